"""Confirming a connection (API.md, "Confirming a connection"): a connect flow's result is bound to
the user who started it. The takeover an outside review found (Mallory forwards her connect link
to Bob) is replayed here and must end with Mallory holding nothing usable."""

from __future__ import annotations

import time
from typing import Any

import pytest

from brokertest.connect import (
    RETURN_TO,
    callback,
    confirm,
    confirmation_of,
    result_of,
    rewrite_token_responses,
    run_flow,
    table_dump,
)
from brokertest.tokens import FakeClock
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.tokens.sweep import RefreshSweep

BOB = "bob@example.com"
GMAIL_LIST = "gmail/v1/users/me/messages"


def mallory_flow(cw, *, mode: str = "redirect", prompt: str | None = None, **fields: Any):
    """Mallory (a non-admin user of acme) starts a flow for `email` with Bob's login hint; Bob
    opens the link and consents with his own Google account. Nobody confirms yet."""
    session_fields: dict[str, Any] = {"scopes": ["email"], "login_hint": BOB, "mode": mode, **fields}
    if prompt:
        session_fields["prompt"] = prompt
    return run_flow(cw.world, cw.fake, cw.ocl, user="mallory", confirmed=False, **session_fields)


def bob_connects_gmail(cw) -> str:
    """Bob's own connection with gmail.readonly (his grant to the tenant's client)."""
    flow = run_flow(cw.world, cw.fake, cw.ocl, user="bob", account=BOB, scopes=["gmail.readonly"])
    assert flow.confirmed is not None
    return str(flow.confirmed.json["id"])


def call(cw, method: str, path: str, *, user: str, **kwargs: Any):
    return cw.world.request(method, path, token=cw.world.token("acme", user), **kwargs)


def upstream_api_requests(cw) -> list[Any]:
    """Requests that reached the fake Google's Gmail, People or userinfo APIs."""
    return [
        r for r in cw.fake.requests if r.endpoint not in ("authorize", "token", "revoke", "jwks", "openid")
    ]


def access_token_of(cw, connection_id: str) -> str:
    rec = cw.world.services.connections.get(connection_id)
    ctx = EncryptionContext(rec.tenant, rec.id, "access_token")
    return cw.world.services.envelope.decrypt(rec.enc_access_token, ctx).decode()


def sweep_after(cw, seconds: float):
    clock = FakeClock(start=time.time() + seconds)
    return RefreshSweep(cw.world.services, clock=clock).run(deadline=clock.monotonic() + 60)


# -- the takeover, replayed ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["redirect", "popup"])
def test_given_mallorys_link_consented_by_bob_when_bob_confirms_then_404_and_mallory_holds_nothing(cw, mode):
    bob_connects_gmail(cw)  # Bob granted gmail.readonly to this client before
    api_before = len(upstream_api_requests(cw))
    flow = mallory_flow(cw, mode=mode)
    result = flow.result
    assert result["status"] == "pending" and result["confirmation"]
    con_id = flow.connection_id
    assert cw.event_types() == ["connection.created"]  # Bob's own; nothing for the pending result

    # Bob's app receives the result in Bob's browser and confirms it as Bob.
    refused = confirm(cw.world, result["confirmation"], user="bob")
    assert refused.status_code == 404 and refused.json["code"] == "not_found"

    # The pending result is discarded: Mallory's connection is gone, her calls find nothing.
    assert cw.world.services.connections.get(con_id) is None
    for method, path in (
        ("GET", f"/v1/connections/{con_id}"),
        ("GET", f"/v1/connections/{con_id}/proxy/{GMAIL_LIST}"),
        ("GET", f"/v1/connections/{con_id}/token"),
    ):
        assert call(cw, method, path, user="mallory").status_code == 404
    # ...and the confirmation is spent: presenting it again (even as Mallory) is a 404.
    assert confirm(cw.world, result["confirmation"], user="mallory").status_code == 404
    assert len(upstream_api_requests(cw)) == api_before
    # Bob's own connection still holds the grant: it was kept, not revoked, and still works.
    assert cw.fake.revocations == []
    assert cw.event_types() == ["connection.created"]


def test_given_mallorys_pending_connection_when_she_uses_it_then_409_confirmation_required(
    cw,
):
    admin = cw.world.token("acme", "root", admin=True)
    cw.world.request("PATCH", "/v1/settings", token=admin, json_body={"expose_access_tokens": True})
    bob_connects_gmail(cw)
    api_before = len(upstream_api_requests(cw))
    con_id = mallory_flow(cw).connection_id
    listed = call(cw, "GET", "/v1/connections", user="mallory").json["data"]
    assert [(c["id"], c["status"]) for c in listed] == [(con_id, "pending")]
    for method, path in (
        ("GET", f"/v1/connections/{con_id}/proxy/{GMAIL_LIST}"),
        ("GET", f"/v1/connections/{con_id}/proxy/oauth2/v3/userinfo"),
        ("GET", f"/v1/connections/{con_id}/gmail/messages"),
        ("GET", f"/v1/connections/{con_id}/contacts"),
        ("POST", f"/v1/connections/{con_id}/test"),
        ("GET", f"/v1/connections/{con_id}/token"),
        ("POST", f"/v1/connections/{con_id}/refresh"),
    ):
        resp = call(cw, method, path, user="mallory")
        assert resp.status_code == 409, (path, resp.get_data(as_text=True))
        assert resp.json["code"] == "confirmation_required", path
    assert len(upstream_api_requests(cw)) == api_before


def test_given_an_earlier_grant_when_mallory_uses_prompt_none_then_the_silent_result_is_still_unusable(cw):
    bob_connects_gmail(cw)
    flow = mallory_flow(cw, prompt="none")
    assert flow.result["status"] == "pending"
    con_id = flow.connection_id
    resp = call(cw, "GET", f"/v1/connections/{con_id}/proxy/{GMAIL_LIST}", user="mallory")
    assert resp.status_code == 409 and resp.json["code"] == "confirmation_required"
    assert confirm(cw.world, flow.result["confirmation"], user="bob").status_code == 404
    assert cw.world.services.connections.get(con_id) is None


def test_given_a_pending_result_nobody_confirms_when_the_window_closes_then_the_sweep_discards_and_revokes_it(
    cw,
):
    flow = mallory_flow(cw)  # Bob holds no other connection: the grant exists only for this result
    con_id = flow.connection_id
    assert sweep_after(cw, 60).discarded == 0  # still inside the 10 minutes: kept
    assert cw.world.services.connections.get(con_id) is not None
    report = sweep_after(cw, 11 * 60)
    assert report.discarded == 1
    assert cw.world.services.connections.get(con_id) is None
    assert [(r.email, r.outcome) for r in cw.fake.revocations] == [(BOB, "revoked")]
    assert confirm(cw.world, flow.result["confirmation"], user="mallory").status_code == 404
    assert cw.event_types() == []  # never announced, so nothing to retract
    assert sweep_after(cw, 12 * 60).discarded == 0


def test_given_a_result_shared_with_a_live_connection_when_discarded_then_the_grant_is_kept(cw):
    bob_id = bob_connects_gmail(cw)
    mallory_flow(cw)
    assert sweep_after(cw, 11 * 60).discarded == 1
    assert cw.fake.revocations == []
    resp = call(cw, "GET", f"/v1/connections/{bob_id}/proxy/{GMAIL_LIST}", user="bob")
    assert resp.status_code == 200


def test_given_bobs_connection_when_he_deletes_it_then_a_pending_result_does_not_keep_his_grant(
    cw,
):
    bob_id = bob_connects_gmail(cw)
    mallory_flow(cw)
    resp = call(cw, "DELETE", f"/v1/connections/{bob_id}", user="bob")
    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert [(r.email, r.outcome) for r in cw.fake.revocations] == [(BOB, "revoked")]


# -- the creator confirms ---------------------------------------------------------------------------------
def test_given_a_result_when_its_creator_confirms_then_it_is_live_and_announced_only_then(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, scopes=["gmail.readonly"], confirmed=False)
    result = flow.result
    assert result["status"] == "pending"
    assert cw.event_types() == []
    assert cw.world.services.connections.get(result["connection_id"]).status is ConnectionStatus.PENDING
    resp = confirm(cw.world, result["confirmation"], user="alice")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.json
    assert body["id"] == result["connection_id"] and body["status"] == "active"
    assert body["account"]["email"] == "alice@example.com"
    assert cw.event_types() == ["connection.created"]
    listed = call(cw, "GET", f"/v1/connections/{body['id']}/proxy/{GMAIL_LIST}", user="alice")
    assert listed.status_code == 200


def test_given_a_confirmed_result_when_confirmed_again_then_404_and_nothing_changes(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    confirmation = flow.result["confirmation"]
    assert confirm(cw.world, confirmation).status_code == 200
    again = confirm(cw.world, confirmation)
    assert again.status_code == 404 and again.json["code"] == "not_found"
    assert cw.world.services.connections.get(flow.connection_id).status is ConnectionStatus.ACTIVE
    assert cw.event_types() == ["connection.created"]


def test_given_a_result_when_confirmed_after_ten_minutes_then_404(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    aws = cw.world.aws
    table = aws.resources.table_name
    [item] = [i for i in aws.dynamodb.scan(TableName=table)["Items"] if i["pk"]["S"].startswith("CONFIRM#")]
    aws.dynamodb.update_item(
        TableName=table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert confirm(cw.world, flow.result["confirmation"]).status_code == 404
    assert cw.world.services.connections.get(flow.connection_id).status is ConnectionStatus.PENDING


def test_given_an_api_key_acting_for_the_creator_when_it_confirms_then_200(cw):
    admin = cw.world.token("acme", "root", admin=True)
    key = cw.world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json["key"]
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    resp = confirm(cw.world, flow.result["confirmation"], token=key, headers={"X-On-Behalf-Of": "alice"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.json["status"] == "active"


@pytest.mark.parametrize(
    ("who", "kwargs"),
    [
        ("an admin of the tenant", {"tenant": "acme", "user": "root"}),
        ("another tenant's user alice", {"tenant": "globex", "user": "alice"}),
        ("an API key acting for someone else", None),
    ],
)
def test_given_a_result_when_another_principal_presents_it_then_404_and_it_is_discarded(cw, who, kwargs):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    confirmation = flow.result["confirmation"]
    if kwargs is None:
        admin = cw.world.token("acme", "root", admin=True)
        key = cw.world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "k"}).json["key"]
        resp = confirm(cw.world, confirmation, token=key, headers={"X-On-Behalf-Of": "mallory"})
    else:
        token = cw.world.token(kwargs["tenant"], kwargs["user"], admin=kwargs["user"] == "root")
        resp = confirm(cw.world, confirmation, token=token)
    assert resp.status_code == 404, who
    assert cw.world.services.connections.get(flow.connection_id) is None, who
    assert confirm(cw.world, confirmation).status_code == 404, who  # spent for its creator too


def test_given_a_malformed_confirmation_when_presented_then_404_or_422_never_500(cw):
    assert confirm(cw.world, "cfm_nope").status_code == 404
    assert confirm(cw.world, "x" * 100).status_code == 404
    resp = cw.world.request(
        "POST", "/v1/connect-sessions/confirm", token=cw.world.token(), json_body={"confirmation": 5}
    )
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"


def test_given_a_confirmation_when_the_table_is_read_then_only_its_hash_is_stored(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    confirmation = flow.result["confirmation"]
    assert confirmation.startswith("cfm_") and len(confirmation) >= 4 + 43  # 256 bits, base64url
    assert confirmation not in table_dump(cw.world)


def test_given_popup_mode_without_an_opener_when_the_page_shows_then_it_never_displays_the_confirmation(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False, mode="popup")
    page = flow.response.get_data(as_text=True)
    confirmation = confirmation_of(flow.response)
    assert confirmation
    visible = page.split("<script", 1)[0]
    assert confirmation not in visible
    assert "Go back to the app" in visible


def test_given_a_session_without_return_to_when_created_then_422_naming_it(cw):
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl},
    )
    assert resp.status_code == 422 and resp.json["code"] == "validation_error"
    assert "return_to" in resp.get_data(as_text=True)


# -- re-authorization -------------------------------------------------------------------------------------
def test_given_a_re_authorization_when_pending_then_the_old_tokens_keep_working_until_it_is_confirmed(cw):
    first = run_flow(cw.world, cw.fake, cw.ocl, scopes=["gmail.readonly"])
    con_id = first.connection_id
    old_token = access_token_of(cw, con_id)
    session_fields = {"connection_id": con_id, "return_to": RETURN_TO}
    again = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False, **session_fields)
    assert again.result["status"] == "pending" and again.connection_id == con_id
    assert access_token_of(cw, con_id) == old_token
    resp = call(cw, "GET", f"/v1/connections/{con_id}/proxy/{GMAIL_LIST}", user="alice")
    assert resp.status_code == 200
    assert cw.fake.requests[-1].headers.get("Authorization") == f"Bearer {old_token}"
    assert cw.event_types() == ["connection.created"]

    assert confirm(cw.world, again.result["confirmation"]).status_code == 200
    assert access_token_of(cw, con_id) != old_token
    assert cw.event_types() == ["connection.created", "connection.updated"]


def test_given_an_unconfirmed_re_authorization_when_it_expires_then_the_connection_keeps_its_grant(
    cw,
):
    first = run_flow(cw.world, cw.fake, cw.ocl)
    con_id = first.connection_id
    before = cw.world.services.connections.get(con_id)
    run_flow(cw.world, cw.fake, cw.ocl, confirmed=False, connection_id=con_id)
    assert sweep_after(cw, 11 * 60).discarded == 1
    after = cw.world.services.connections.get(con_id)
    assert after.enc_access_token == before.enc_access_token and after.version == before.version
    assert cw.fake.revocations == []  # Google revokes whole grants: the live connection keeps it


def test_given_a_re_authorization_of_a_dead_grant_when_unconfirmed_then_the_new_grant_is_revoked(cw):
    first = run_flow(cw.world, cw.fake, cw.ocl)
    con_id = first.connection_id
    services = cw.world.services
    rec = services.connections.get(con_id)
    services.connections.save(
        rec.model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH, "status_reason": "invalid_grant"}),
        expected_version=rec.version,
    )
    run_flow(cw.world, cw.fake, cw.ocl, confirmed=False, connection_id=con_id)
    assert sweep_after(cw, 11 * 60).discarded == 1
    assert [r.outcome for r in cw.fake.revocations] == ["revoked"]
    assert services.connections.get(con_id).status is ConnectionStatus.NEEDS_REAUTH


def test_given_a_pending_result_when_the_callback_page_is_replayed_then_no_second_result_is_held(cw):
    flow = run_flow(cw.world, cw.fake, cw.ocl, confirmed=False)
    replay = callback(cw.world, flow.callback_url)
    assert replay.status_code == 400
    assert len(cw.connection_items()) == 1
    assert confirm(cw.world, result_of(flow.response)["confirmation"]).status_code == 200


def test_given_a_pending_connection_when_its_owner_deletes_it_then_the_grant_is_revoked_without_events(cw):
    flow = mallory_flow(cw)
    resp = call(cw, "DELETE", f"/v1/connections/{flow.connection_id}", user="mallory")
    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert [(r.email, r.outcome) for r in cw.fake.revocations] == [(BOB, "revoked")]
    assert cw.event_types() == []  # never announced, so nothing to retract
    assert sweep_after(cw, 11 * 60).discarded == 1  # its result goes too; nothing left to revoke
    assert len(cw.fake.revocations) == 1
    assert confirm(cw.world, flow.result["confirmation"], user="mallory").status_code == 404


def test_given_a_result_without_a_refresh_token_when_discarded_then_its_access_token_is_revoked(cw):
    rewrite_token_responses(
        cw.world, cw.fake, lambda body: {k: v for k, v in body.items() if k != "refresh_token"}
    )
    flow = mallory_flow(cw)
    assert confirm(cw.world, flow.result["confirmation"], user="bob").status_code == 404
    (revocation,) = cw.fake.revocations
    assert (revocation.token_type_hint, revocation.outcome) == ("access_token", "revoked")
    assert cw.world.services.connections.get(flow.connection_id) is None
