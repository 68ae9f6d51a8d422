"""Re-authorization: a connect session with `connection_id` repairs a connection in place."""

from __future__ import annotations

import pytest

from brokertest.connect import (
    RETURN_TO,
    allow_return_origins,
    callback,
    confirm,
    create_session,
    posted_message,
    provider_redirect,
    result_of,
    rewrite_token_responses,
    run_flow,
)
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.models import ConnectionStatus

AUTH = "https://www.googleapis.com/auth/"
READONLY, SEND = AUTH + "gmail.readonly", AUTH + "gmail.send"


def connect(cw, **fields) -> str:
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO, **fields)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["error"] is None, message
    return str(message["connection_id"])


def token_of(cw, connection_id: str, purpose: str) -> str:
    rec = cw.world.services.connections.get(connection_id)
    blob = rec.enc_access_token if purpose == "access_token" else rec.enc_refresh_token
    return cw.world.services.envelope.decrypt(blob, EncryptionContext(rec.tenant, rec.id, purpose)).decode()


def test_given_a_connection_in_needs_reauth_when_it_is_re_authorized_then_it_keeps_its_id_and_is_active_again(
    cw,
):
    con_id = connect(cw, name="Work mail")
    services = cw.world.services
    rec = services.connections.get(con_id)
    services.connections.save(
        rec.model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH, "status_reason": "invalid_grant"}),
        expected_version=rec.version,
    )
    old_access = token_of(cw, con_id, "access_token")
    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, prompt="consent", return_to=RETURN_TO)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["connection_id"] == con_id and message["status"] == "pending" and message["error"] is None
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    after = services.connections.get(con_id)
    assert after.status is ConnectionStatus.ACTIVE and after.status_reason is None
    assert after.name == "Work mail" and after.created_at == rec.created_at
    assert token_of(cw, con_id, "access_token") != old_access
    assert len(cw.connection_items()) == 1
    assert cw.event_types() == ["connection.created", "connection.updated"]


def test_given_a_re_authorization_with_more_scopes_when_finished_then_the_connection_has_them(cw):
    con_id = connect(cw, scopes=["gmail.readonly"])
    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, scopes=["gmail.readonly", "gmail.send"])
    assert flow.response.status_code == 200
    after = cw.world.services.connections.get(con_id)
    assert SEND in after.scopes_requested and SEND in after.scopes_granted


def test_given_a_re_authorization_without_scopes_when_the_session_is_created_then_the_old_scopes_are_reused(
    cw,
):
    con_id = connect(cw, scopes=["gmail.send"])
    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id)
    assert flow.response.status_code == 200
    assert SEND in flow.query["scope"]


def test_given_another_google_account_at_re_authorization_when_finished_then_it_is_refused_unchanged(
    cw,
):
    con_id = connect(cw, account="alice@example.com")
    before = cw.world.services.connections.get(con_id)
    flow = run_flow(
        cw.world, cw.fake, cw.ocl, connection_id=con_id, account="bob@example.com", return_to=RETURN_TO
    )
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["error"] == "account_mismatch"
    assert message["connection_id"] == con_id and message["status"] == "active"
    after = cw.world.services.connections.get(con_id)
    assert after == before
    assert cw.event_types() == ["connection.created"]
    assert "different account" in flow.response.get_data(as_text=True)


def test_given_a_connection_of_another_user_when_a_re_authorization_session_is_created_then_it_is_not_found(
    cw,
):
    con_id = connect(cw)
    allow_return_origins(cw.world, tenant="globex")
    for token in (
        cw.world.token("acme", "bob"),
        cw.world.token("globex", "alice"),
        cw.world.token("acme", "root", admin=True),
    ):
        resp = cw.world.request(
            "POST",
            "/v1/connect-sessions",
            token=token,
            json_body={
                "provider": "google-mail",
                "oauth_client_id": cw.ocl,
                "connection_id": con_id,
                "return_to": RETURN_TO,
            },
        )
        assert resp.status_code == 404, resp.json


def test_given_an_unknown_connection_id_when_a_re_authorization_session_is_created_then_it_is_not_found(cw):
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={
            "provider": "google-mail",
            "oauth_client_id": cw.ocl,
            "connection_id": "con_" + "0" * 32,
            "return_to": RETURN_TO,
        },
    )
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_given_google_sends_no_new_refresh_token_when_re_authorized_then_the_stored_one_is_kept(cw):
    con_id = connect(cw)
    old_refresh = token_of(cw, con_id, "refresh_token")
    rewrite_token_responses(
        cw.world, cw.fake, lambda body: {k: v for k, v in body.items() if k != "refresh_token"}
    )
    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, return_to=RETURN_TO)
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    assert token_of(cw, con_id, "refresh_token") == old_refresh


def test_given_a_new_connection_without_a_refresh_token_when_finished_then_it_needs_reauth_and_says_why(cw):
    rewrite_token_responses(
        cw.world, cw.fake, lambda body: {k: v for k, v in body.items() if k != "refresh_token"}
    )
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["status"] == "pending"
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "needs_reauth"
    rec = cw.world.services.connections.get(message["connection_id"])
    assert rec.status_reason == "no_refresh_token" and rec.enc_refresh_token is None


def test_given_google_when_a_re_authorization_replaces_the_refresh_token_then_the_old_one_is_not_revoked(cw):
    # Google revokes the whole (client, account) grant on any revocation: that would kill the new token.
    con_id = connect(cw)
    run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, prompt="consent")
    assert cw.fake.revocations == []
    assert cw.fake.token_info(token_of(cw, con_id, "refresh_token"))["active"]


def _changed_during_the_flow(cw, con_id: str, change: str) -> None:
    services = cw.world.services
    if change == "deleted":
        services.connections.delete(con_id)
        return
    rec = services.connections.get(con_id)
    update = {"owner": "mallory"} if change == "owner" else {"provider": "google-contacts"}
    services.connections.save(rec.model_copy(update=update), expected_version=rec.version)


@pytest.mark.parametrize("change", ["deleted", "owner", "provider"])
def test_given_the_connection_changed_during_a_re_authorization_when_the_callback_comes_then_it_is_not_found(
    cw, change
):
    """The callback checks the connection again: session creation's check is minutes old by then."""
    con_id = connect(cw)
    session = create_session(cw.world, cw.ocl, connection_id=con_id)
    callback_url = cw.fake.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    _changed_during_the_flow(cw, con_id, change)

    result = result_of(callback(cw.world, callback_url))

    assert result["error"] == "connection_not_found"
    assert result.get("confirmation") is None


def test_given_a_re_authorization_with_a_new_name_when_confirmed_then_the_name_changes_and_the_account_stays(
    cw,
):
    con_id = connect(cw, name="Work mail")
    before = cw.world.services.connections.get(con_id)

    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, name="Renamed", return_to=RETURN_TO)

    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    after = cw.world.services.connections.get(con_id)
    assert after.name == "Renamed"
    assert after.account_sub == before.account_sub and after.account_sub is not None


def test_given_a_re_authorization_with_a_scope_left_unticked_when_confirmed_then_it_is_partial_and_says_why(
    cw,
):
    con_id = connect(cw, scopes=["gmail.readonly"])
    flow = run_flow(
        cw.world,
        cw.fake,
        cw.ocl,
        connection_id=con_id,
        scopes=["gmail.readonly", "gmail.send"],
        granted=["openid", "email", "profile", READONLY],
        return_to=RETURN_TO,
    )

    assert flow.result["missing_scopes"] == [SEND]
    after = cw.world.services.connections.get(con_id)
    assert (after.status, after.status_reason) == (ConnectionStatus.PARTIAL, "scopes_not_granted")


def test_given_a_connection_in_needs_reauth_when_google_sends_no_refresh_token_then_it_still_needs_reauth(cw):
    """The refresh token it holds is the one Google refused: an access token alone dies within the hour."""
    con_id = connect(cw)
    services = cw.world.services
    rec = services.connections.get(con_id)
    services.connections.save(
        rec.model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH, "status_reason": "invalid_grant"}),
        expected_version=rec.version,
    )
    rewrite_token_responses(
        cw.world, cw.fake, lambda body: {k: v for k, v in body.items() if k != "refresh_token"}
    )

    flow = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, return_to=RETURN_TO)

    assert flow.confirmed is not None and flow.confirmed.json["status"] == "needs_reauth"
    after = services.connections.get(con_id)
    assert (after.status, after.status_reason) == (ConnectionStatus.NEEDS_REAUTH, "no_refresh_token")


def test_given_an_account_less_connection_when_two_accounts_race_to_repair_it_then_the_later_is_refused(
    cw,
):
    """A connection that never learnt its account (say, its provider had no userinfo then) takes the
    account of the first re-authorization confirmed; a flow of another account that reached the
    callback before that may not switch it afterwards: 404, and what that flow obtained is revoked."""
    con_id = connect(cw)
    services = cw.world.services
    rec = services.connections.get(con_id)
    services.connections.save(rec.model_copy(update={"account_sub": None}), expected_version=rec.version)
    alice, bob = cw.fake.account("alice@example.com"), cw.fake.account("bob@example.com")

    # alice's flow reaches the callback, but is not confirmed yet
    alices = run_flow(
        cw.world,
        cw.fake,
        cw.ocl,
        connection_id=con_id,
        account=alice.email,
        confirmed=False,
        return_to=RETURN_TO,
    )
    # bob's flow is confirmed first: the connection is bob's now
    bobs = run_flow(cw.world, cw.fake, cw.ocl, connection_id=con_id, account=bob.email, return_to=RETURN_TO)
    assert bobs.confirmed is not None and bobs.confirmed.status_code == 200
    assert services.connections.get(con_id).account_sub == bob.sub
    bobs_access = token_of(cw, con_id, "access_token")

    late = confirm(cw.world, str(alices.result["confirmation"]))

    assert late.status_code == 404 and late.json["code"] == "not_found"
    after = services.connections.get(con_id)
    assert after.account_sub == bob.sub and token_of(cw, con_id, "access_token") == bobs_access
    assert {(r.email, r.outcome) for r in cw.fake.revocations} == {(alice.email, "revoked")}
