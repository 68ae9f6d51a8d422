"""Scope credit (API.md, "The callback"): a connection is credited only with the scopes it requested
(and the identity scopes). What the grant carries from the account's earlier consents to the same
OAuth client (Google's `include_granted_scopes=true`) is not in `scopes_granted`, does not pass the
proxy's scope check, and a refresh that reports it does not add it either."""

from __future__ import annotations

from brokertest.connect import RETURN_TO, run_flow
from brokertest.google import CLIENT_ID
from brokertest.proxy import problem
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.tokens.refresher import TokenRefresher

ALICE = "alice@example.com"
AUTH = "https://www.googleapis.com/auth/"
GMAIL_READONLY = AUTH + "gmail.readonly"
IDENTITY = ["openid", AUTH + "userinfo.email", AUTH + "userinfo.profile"]
MESSAGES = "gmail/v1/users/me/messages"


def access_token(cw, rec: ConnectionRecord) -> str:
    ctx = EncryptionContext(rec.tenant, rec.id, "access_token")
    return str(cw.world.services.envelope.decrypt(rec.enc_access_token, ctx).decode())


def email_only_connection_after_an_earlier_gmail_grant(cw) -> ConnectionRecord:
    # Alice granted gmail.readonly to the tenant's OAuth client before (another app, another time)
    cw.fake.issue_tokens(ALICE, ["openid", "email", "profile", GMAIL_READONLY], client_id=CLIENT_ID)
    flow = run_flow(cw.world, cw.fake, cw.ocl, scopes=["email"], return_to=RETURN_TO)
    assert flow.query["scope"] and GMAIL_READONLY in flow.query["scope"].split()  # Google says so
    rec = cw.world.services.connections.get(flow.connection_id)
    assert rec is not None
    return rec


def proxied_messages_list(cw, rec: ConnectionRecord):
    return cw.world.request(
        "GET", f"/v1/connections/{rec.id}/proxy/{MESSAGES}", token=cw.world.token("acme", rec.owner)
    )


def test_given_an_earlier_gmail_grant_when_a_connection_asks_only_for_email_then_gmail_is_not_credited(
    cw,
):
    rec = email_only_connection_after_an_earlier_gmail_grant(cw)

    # the grant (and the token the connection holds) carries gmail.readonly ...
    assert GMAIL_READONLY in cw.fake.token_info(access_token(cw, rec))["scopes"]
    # ... but the connection is credited with what it asked for only
    assert GMAIL_READONLY not in rec.scopes_granted
    assert sorted(rec.scopes_granted) == sorted(IDENTITY)
    listed = cw.world.request("GET", f"/v1/connections/{rec.id}", token=cw.world.token())
    assert listed.status_code == 200 and GMAIL_READONLY not in listed.json["scopes_granted"]


def test_given_a_connection_not_credited_with_gmail_when_it_lists_messages_through_the_proxy_then_403(cw):
    rec = email_only_connection_after_an_earlier_gmail_grant(cw)

    resp = proxied_messages_list(cw, rec)

    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert problem(resp)["code"] == "scope_not_granted"
    assert cw.fake.requests_to("gmail") == []  # nothing reached Gmail


def test_given_a_refresh_that_reports_the_earlier_grant_when_stored_then_the_connection_is_not_widened(cw):
    rec = email_only_connection_after_an_earlier_gmail_grant(cw)
    refreshes = cw.fake.token_requests["refresh_token"]

    token = TokenRefresher(cw.world.services).get_fresh_token(rec, force=True)

    assert cw.fake.token_requests["refresh_token"] == refreshes + 1
    assert GMAIL_READONLY in cw.fake.token_info(token.token)["scopes"]  # the refresh reported it
    stored = cw.world.services.connections.get(rec.id)
    assert stored.version > rec.version and access_token(cw, stored) == token.token
    assert GMAIL_READONLY not in stored.scopes_granted and GMAIL_READONLY not in token.scopes
    resp = proxied_messages_list(cw, stored)
    assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted"
    assert cw.fake.requests_to("gmail") == []


def test_given_an_earlier_grant_when_a_connection_asks_for_gmail_too_then_gmail_is_credited_and_works(cw):
    # the rule credits what was requested; it does not drop a requested scope the grant also had
    cw.fake.issue_tokens(ALICE, ["openid", "email", "profile", GMAIL_READONLY], client_id=CLIENT_ID)
    flow = run_flow(cw.world, cw.fake, cw.ocl, scopes=["gmail.readonly"], return_to=RETURN_TO)
    rec = cw.world.services.connections.get(flow.connection_id)

    assert GMAIL_READONLY in rec.scopes_granted
    resp = proxied_messages_list(cw, rec)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(cw.fake.requests_to("gmail")) == 1
