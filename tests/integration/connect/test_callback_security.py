"""The callback refuses what it must: replayed, unknown, expired or tampered states (400, nothing
written), an `iss` that is not the provider's or missing where the provider always sends it
(RFC 9207: 400, no code exchange, nothing written), and ID tokens that fail verification."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from brokertest.connect import (
    RETURN_TO,
    callback,
    create_oauth_client,
    create_session,
    posted_message,
    provider_redirect,
    result_of,
    rewrite_token_responses,
    run_flow,
)
from brokertest.custom_idp import AUTH, IDP_BASE, custom_oauth2, custom_oidc, mount_idp
from brokertest.google import GOOGLE_BASE
from oauth_broker.connect.authorize import state_store
from oauth_broker.connect.callback import MAX_STATE_LENGTH
from oauth_broker.crypto.state_box import MIN_STATE_LENGTH, state_hash
from oauth_broker.store.sessions import OAuthStateStore
from oauth_broker.timeutil import now_epoch
from oauth_broker_dev.fake_google import FakeGoogle


def with_param(url: str, name: str, value: str | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    if value is not None:
        query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def param(url: str, name: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))[name]


def consented(cw, **session_fields: Any) -> str:
    """The callback URL Google sends the browser back to (not yet followed)."""
    session = create_session(cw.world, cw.ocl, **session_fields)
    return cw.fake.complete_consent(provider_redirect(cw.world, session["authorize_url"]))


def assert_refused_page(resp) -> None:
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/html")
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "invalid, has expired or was already used" in resp.get_data(as_text=True)
    assert "postMessage" not in resp.get_data(as_text=True)


def assert_nothing_written(cw) -> None:
    assert cw.connection_items() == []
    assert cw.events == []


# -- state -------------------------------------------------------------------------------------


def test_given_a_completed_flow_when_the_callback_is_replayed_then_400_and_nothing_more_is_written(cw):
    back = consented(cw, return_to=RETURN_TO)
    assert callback(cw.world, back).status_code == 200
    items_before, exchanges = cw.connection_items(), cw.fake.token_requests["authorization_code"]
    replay = callback(cw.world, back)
    assert_refused_page(replay)
    assert cw.connection_items() == items_before
    assert cw.fake.token_requests["authorization_code"] == exchanges
    assert cw.event_types() == []  # the held result is announced when confirmed, not here


def test_given_an_unknown_state_when_the_callback_is_called_then_400_and_nothing_is_written(cw):
    back = consented(cw)
    assert_refused_page(callback(cw.world, with_param(back, "state", "u" * 43)))
    assert_nothing_written(cw)
    assert cw.fake.token_requests["authorization_code"] == 0


def test_given_no_state_when_the_callback_is_called_then_400_and_nothing_is_written(cw):
    back = consented(cw)
    assert_refused_page(callback(cw.world, with_param(back, "state", None)))
    assert_nothing_written(cw)


def test_given_a_tampered_state_when_the_callback_is_called_then_400_and_nothing_is_written(cw):
    back = consented(cw)
    state = param(back, "state")
    flipped = state[:-1] + ("A" if state[-1] != "A" else "B")
    assert_refused_page(callback(cw.world, with_param(back, "state", flipped)))
    assert_nothing_written(cw)


def test_given_a_state_item_whose_sealed_secrets_were_tampered_when_the_callback_is_called_then_400(cw):
    back = consented(cw)
    key = f"STATE#{state_hash(param(back, 'state'))}"
    table = cw.world.aws.resources.table_name
    item = cw.world.aws.dynamodb.get_item(TableName=table, Key={"pk": {"S": key}, "sk": {"S": "STATE"}})[
        "Item"
    ]
    version, nonce, ciphertext = item["sealed"]["S"].split(".")
    forged = ciphertext[:-2] + ("AA" if ciphertext[-2:] != "AA" else "BB")
    item["sealed"] = {"S": f"{version}.{nonce}.{forged}"}
    cw.world.aws.dynamodb.put_item(TableName=table, Item=item)
    assert_refused_page(callback(cw.world, back))
    assert_nothing_written(cw)
    assert cw.fake.token_requests["authorization_code"] == 0


def test_given_a_state_older_than_10_minutes_when_the_callback_is_called_then_400_and_nothing_is_written(cw):
    services = cw.world.services
    services.singleton(
        "oauth_state_store", lambda: OAuthStateStore(services.table, clock=lambda: now_epoch() + 601)
    )
    back = consented(cw)
    assert state_store(services).clock() > now_epoch()
    assert_refused_page(callback(cw.world, back))
    assert_nothing_written(cw)


def test_given_a_state_when_stored_then_neither_it_nor_the_verifier_nor_the_nonce_is_in_the_table(cw):
    session = create_session(cw.world, cw.ocl)
    google = provider_redirect(cw.world, session["authorize_url"])
    q = dict(parse_qsl(urlsplit(google).query))
    dump = json.dumps(cw.world.aws.dynamodb.scan(TableName=cw.world.aws.resources.table_name)["Items"])
    assert q["state"] not in dump and q["nonce"] not in dump
    assert state_hash(q["state"]) in dump


# -- issuer (RFC 9207) -------------------------------------------------------------------------


def assert_refused_before_the_exchange(cw, resp, error: str, *, fake=None) -> None:
    """A 400 result page naming `error`; no code exchange, no connection, no event."""
    fake = fake or cw.fake
    assert resp.status_code == 400
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    message, _ = posted_message(resp.get_data(as_text=True))
    assert message["error"] == error and message["connection_id"] is None
    assert fake.requests_to("token") == [] and fake.token_requests["authorization_code"] == 0
    assert_nothing_written(cw)


def test_given_an_iss_of_another_issuer_when_the_callback_is_called_then_it_fails_and_writes_nothing(
    cw,
):
    back = consented(cw, return_to=RETURN_TO)
    resp = callback(cw.world, with_param(back, "iss", "https://evil.example"))
    assert_refused_before_the_exchange(cw, resp, "issuer_mismatch")


def test_given_googles_issuer_spelled_differently_when_the_callback_is_called_then_it_is_a_mismatch(cw):
    back = consented(cw, return_to=RETURN_TO)
    resp = callback(cw.world, with_param(back, "iss", GOOGLE_BASE + "/"))
    assert_refused_before_the_exchange(cw, resp, "issuer_mismatch")


def test_given_google_which_always_sends_iss_when_a_callback_comes_without_it_then_it_is_refused(cw):
    back = consented(cw, return_to=RETURN_TO)
    assert param(back, "iss") == GOOGLE_BASE  # the fake, like Google, sends it
    resp = callback(cw.world, with_param(back, "iss", None))
    assert_refused_before_the_exchange(cw, resp, "issuer_missing")
    assert "did not say which provider sent it" in resp.get_data(as_text=True)


def test_given_an_error_response_without_iss_when_the_callback_is_called_then_it_is_refused_as_missing(cw):
    session = create_session(cw.world, cw.ocl, return_to=RETURN_TO)
    back = cw.fake.complete_consent(provider_redirect(cw.world, session["authorize_url"]), allow=False)
    assert param(back, "error") == "access_denied"
    resp = callback(cw.world, with_param(back, "iss", None))
    assert_refused_before_the_exchange(cw, resp, "issuer_missing")


def test_given_a_redirect_mode_session_when_iss_is_missing_then_the_app_gets_the_error_and_nothing_is_written(
    cw,
):
    back = consented(cw, return_to=RETURN_TO, mode="redirect")
    resp = callback(cw.world, with_param(back, "iss", None))
    assert resp.status_code == 303
    result = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
    assert result["error"] == "issuer_missing"
    assert "connection_id" not in result and "confirmation" not in result
    assert cw.fake.token_requests["authorization_code"] == 0
    assert_nothing_written(cw)


def test_given_a_refused_iss_when_the_same_state_is_used_again_with_the_right_iss_then_it_is_spent(cw):
    back = consented(cw, return_to=RETURN_TO)
    assert callback(cw.world, with_param(back, "iss", "https://evil.example")).status_code == 400
    assert_refused_page(callback(cw.world, back))  # the state was consumed by the refused attempt
    assert cw.fake.token_requests["authorization_code"] == 0
    assert_nothing_written(cw)


def custom_provider(cw, body: dict) -> tuple[FakeGoogle, str]:
    """A custom provider on a second fake IdP, with an OAuth client: (the IdP, the client's id)."""
    idp = mount_idp(cw.world)
    token = cw.world.token("acme", "root", admin=True)
    resp = cw.world.request("POST", "/v1/providers", token=token, json_body=body)
    assert resp.status_code == 201, resp.json
    return idp, create_oauth_client(cw.world, provider=body["key"], name=body["key"])["id"]


def test_given_a_provider_with_no_issuer_when_the_callback_carries_an_iss_then_it_is_refused(cw):
    idp, client = custom_provider(cw, custom_oauth2())
    session = create_session(cw.world, client, provider="acme-oauth", return_to=RETURN_TO)
    back = idp.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    assert param(back, "iss") == IDP_BASE
    resp = callback(cw.world, back)
    assert_refused_before_the_exchange(cw, resp, "issuer_mismatch", fake=idp)


def test_given_a_provider_with_no_issuer_when_the_callback_has_no_iss_then_the_flow_completes(cw):
    idp, client = custom_provider(cw, custom_oauth2())
    flow = run_flow(
        cw.world, idp, client, provider="acme-oauth", tamper=lambda url: with_param(url, "iss", None)
    )
    assert flow.result.get("error") is None and flow.result["status"] in ("active", "pending"), flow.result
    assert idp.token_requests["authorization_code"] == 1


def test_given_a_custom_provider_whose_discovery_says_it_sends_iss_when_iss_is_missing_then_it_is_refused(cw):
    idp, client = custom_provider(cw, custom_oidc())
    session = create_session(cw.world, client, provider="acme-idp", return_to=RETURN_TO)
    back = idp.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    resp = callback(cw.world, with_param(back, "iss", None))
    assert_refused_before_the_exchange(cw, resp, "issuer_missing", fake=idp)


def test_given_a_custom_provider_when_the_callback_carries_googles_issuer_then_it_is_a_mismatch(cw):
    # the mix-up: a response of the built-in Google delivered to a flow started for the custom IdP
    idp, client = custom_provider(cw, custom_oidc())
    session = create_session(cw.world, client, provider="acme-idp", return_to=RETURN_TO)
    back = idp.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    resp = callback(cw.world, with_param(back, "iss", GOOGLE_BASE))
    assert_refused_before_the_exchange(cw, resp, "issuer_mismatch", fake=idp)
    assert cw.fake.requests == []


# -- ID token ----------------------------------------------------------------------------------


def claims_of(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def resign(cw, change: dict[str, Any], *, key: RSAKey | None = None):
    """A token-response rewrite that re-signs the ID token with changed claims."""

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        claims = {**claims_of(body["id_token"]), **change}
        signer = key or cw.fake.keys.current
        body["id_token"] = jwt.encode({"alg": "RS256", "kid": cw.fake.keys.kid, "typ": "JWT"}, claims, signer)
        return body

    return rewrite


def assert_id_token_refused(cw) -> None:
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["error"] == "invalid_id_token" and message["connection_id"] is None
    assert flow.response.status_code == 400
    assert_nothing_written(cw)


def test_given_an_untouched_re_signed_id_token_when_the_flow_finishes_then_it_is_accepted(cw):
    # The control for the tests below: re-signing with the fake's own key changes nothing.
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {}))
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)
    assert posted_message(flow.response.get_data(as_text=True))[0]["status"] == "pending"
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"


def test_given_an_id_token_with_a_bad_signature_when_the_flow_finishes_then_it_is_refused(cw):
    stranger = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {}, key=stranger))
    assert_id_token_refused(cw)


def test_given_an_id_token_for_another_audience_when_the_flow_finishes_then_it_is_refused(cw):
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {"aud": "another-client"}))
    assert_id_token_refused(cw)


def test_given_an_expired_id_token_when_the_flow_finishes_then_it_is_refused(cw):
    old = now_epoch() - 7200
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {"iat": old, "exp": old + 3600}))
    assert_id_token_refused(cw)


def test_given_an_id_token_with_another_nonce_when_the_flow_finishes_then_it_is_refused(cw):
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {"nonce": "nonce-from-another-flow"}))
    assert_id_token_refused(cw)


def test_given_an_id_token_from_another_issuer_when_the_flow_finishes_then_it_is_refused(cw):
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {"iss": "https://evil.example"}))
    assert_id_token_refused(cw)


def test_given_a_token_response_without_an_id_token_when_the_flow_finishes_then_it_is_refused(cw, log_lines):
    rewrite_token_responses(
        cw.world, cw.fake, lambda body: {k: v for k, v in body.items() if k != "id_token"}
    )
    assert_id_token_refused(cw)
    # refused by its own guard, before any verification is tried
    assert log_lines.the("callback: no verifiable ID token")["provider"] == "google-mail"
    assert "callback: ID token refused" not in log_lines.messages()


def test_given_google_rotated_its_signing_key_when_the_next_flow_finishes_then_the_new_key_is_fetched(cw):
    assert posted_message(
        run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO).response.get_data(as_text=True)
    )
    cw.fake.rotate_signing_key()
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO, account="bob@example.com")
    assert posted_message(flow.response.get_data(as_text=True))[0]["status"] == "pending"
    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    assert len(cw.fake.requests_to("jwks")) == 2


# -- token endpoint ----------------------------------------------------------------------------


def test_given_the_token_endpoint_refuses_the_code_when_the_flow_finishes_then_it_fails_cleanly(cw):
    cw.fake.fail_next("token", error="invalid_grant")
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["error"] == "token_exchange_failed"
    assert "invalid_grant" not in flow.response.get_data(as_text=True)
    assert_nothing_written(cw)


def test_given_google_is_down_when_the_code_is_exchanged_then_the_result_is_upstream_error(cw):
    cw.fake.fail_next("token", status=503)
    flow = run_flow(cw.world, cw.fake, cw.ocl, mode="redirect", return_to=RETURN_TO)
    assert flow.response.status_code == 303
    assert flow.response.headers["Location"] == RETURN_TO + "?error=upstream_error"
    assert_nothing_written(cw)


# -- the account a flow gives: from the verified ID token, strings only --


def test_given_an_id_token_with_email_and_hd_when_the_flow_finishes_then_the_connection_has_them(cw):
    rewrite_token_responses(
        cw.world, cw.fake, resign(cw, {"email": "alice@corp.example", "hd": "corp.example"})
    )
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)

    rec = cw.world.services.connections.get(flow.connection_id)
    assert (rec.account_email, rec.account_hd) == ("alice@corp.example", "corp.example")


def test_given_an_id_token_whose_email_and_hd_are_not_strings_when_the_flow_finishes_then_they_are_dropped(
    cw,
):
    rewrite_token_responses(cw.world, cw.fake, resign(cw, {"email": ["a@corp.example"], "hd": 7}))
    flow = run_flow(cw.world, cw.fake, cw.ocl, return_to=RETURN_TO)

    rec = cw.world.services.connections.get(flow.connection_id)
    assert (rec.account_email, rec.account_hd) == (None, None)


def test_given_a_provider_with_neither_id_token_nor_userinfo_when_the_flow_finishes_then_it_has_no_account(
    cw,
):
    provider = custom_oauth2()
    del provider["auth"]["userinfo_url"]
    idp, client = custom_provider(cw, provider)
    flow = run_flow(
        cw.world, idp, client, provider="acme-oauth", tamper=lambda url: with_param(url, "iss", None)
    )

    assert flow.result.get("error") is None, flow.result
    rec = cw.world.services.connections.get(flow.connection_id)
    assert (rec.account_sub, rec.account_email) == (None, None)


# -- the account without an ID token -----------------------------------------------------------


def test_given_a_plain_oauth2_provider_when_the_flow_finishes_then_the_account_comes_from_userinfo(cw):
    provider = custom_oauth2()
    provider["base_scopes"] = [{"scope": "email", "aliases": [AUTH + "userinfo.email"]}]
    idp, client = custom_provider(cw, provider)
    flow = run_flow(
        cw.world, idp, client, provider="acme-oauth", tamper=lambda url: with_param(url, "iss", None)
    )

    assert flow.result.get("error") is None, flow.result
    rec = cw.world.services.connections.get(flow.connection_id)
    account = idp.accounts[0]
    assert (rec.account_sub, rec.account_email) == (account.sub, account.email)
    # asked with the connection's own access token (the fake answers 401 to any other)
    (userinfo,) = idp.requests_to("userinfo")
    assert userinfo.status == 200


def test_given_an_oidc_flow_without_openid_when_it_finishes_then_the_account_comes_from_userinfo(
    cw,
):
    """No `openid` scope: no nonce is sent and no ID token comes back, so the account comes from the
    userinfo endpoint (discovered) instead of refusing a flow that never asked for an ID token."""
    provider = custom_oidc()
    provider["base_scopes"] = [s for s in provider["base_scopes"] if s["scope"] != "openid"]
    idp, client = custom_provider(cw, provider)
    flow = run_flow(cw.world, idp, client, provider="acme-idp", return_to=RETURN_TO)

    assert "nonce" not in dict(parse_qsl(urlsplit(flow.google_url).query))
    assert flow.result.get("error") is None, flow.result
    rec = cw.world.services.connections.get(flow.connection_id)
    account = idp.accounts[0]
    assert (rec.account_sub, rec.account_email) == (account.sub, account.email)


# -- the guards' own verdicts (a later check would refuse the same input, so each is pinned by its log) --

MALFORMED, UNKNOWN = "callback: missing or malformed state", "callback: unknown, used or expired state"


@pytest.mark.parametrize(
    "length, verdict",
    [
        (MIN_STATE_LENGTH - 1, MALFORMED),
        (MIN_STATE_LENGTH, UNKNOWN),
        (MAX_STATE_LENGTH, UNKNOWN),
        (MAX_STATE_LENGTH + 1, MALFORMED),
    ],
)
def test_given_a_state_at_the_length_bounds_when_the_callback_is_called_then_only_one_outside_is_malformed(
    cw, log_lines, length, verdict
):
    resp = cw.world.request("GET", "/v1/oauth/callback?" + urlencode({"state": "s" * length, "code": "c"}))

    assert_refused_page(resp)
    assert verdict in log_lines.messages()
    assert_nothing_written(cw)


@pytest.mark.parametrize("mode", ["redirect", "popup"])
def test_given_a_bug_in_the_callback_when_the_flow_finishes_then_the_app_gets_internal_error_by_its_mode(
    cw, log_lines, monkeypatch, mode
):
    """Not a dependency's fault (that would be `service_unavailable`): `internal_error`, delivered like
    any result, and one log line with the flow's tenant and provider and the error's type only."""

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug with a detail that must stay out of the log")

    monkeypatch.setattr("oauth_broker.connect.callback.scope_outcome", bug)
    flow = run_flow(cw.world, cw.fake, cw.ocl, mode=mode, return_to=RETURN_TO)

    if mode == "redirect":
        assert flow.response.status_code == 303
        assert flow.response.headers["Location"].startswith(RETURN_TO + "?")
    else:
        assert posted_message(flow.response.get_data(as_text=True)) is not None
    assert result_of(flow.response)["error"] == "internal_error"
    line = log_lines.the("callback: unexpected error")
    assert (line["tenant"], line["provider"]) == ("acme", "google-mail")
    assert (line["error_type"], line["error"]) == ("RuntimeError", "internal_error")
    assert "a detail" not in log_lines.getvalue()
