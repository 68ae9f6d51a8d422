"""POST /v1/connections/{id}/test (the provider's profile call) and GET /v1/connections/{id}/token
(the access token, only when the tenant exposes tokens)."""

from __future__ import annotations

from brokertest.proxy import ALICE, problem
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.timeutil import parse_rfc3339


def probe(pw, rec, **kwargs):
    return pw.call("POST", f"/v1/connections/{rec.id}/test", **kwargs)


def token(pw, rec, **kwargs):
    return pw.call("GET", f"/v1/connections/{rec.id}/token", **kwargs)


def test_given_a_working_gmail_connection_when_tested_then_ok_with_the_account_and_latency(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = probe(pw, rec)

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is True and body["account"] == {"email": ALICE} and body["error"] is None
    assert isinstance(body["latency_ms"], int) and body["latency_ms"] >= 0
    (seen,) = pw.api_requests()
    assert seen.path == "/gmail/v1/users/me/profile"


def test_given_a_contacts_connection_when_tested_then_the_people_profile_is_read(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")

    body = probe(pw, rec).get_json()

    assert body["ok"] is True and body["account"] == {"email": ALICE}
    (seen,) = pw.api_requests()
    assert seen.path == "/people/v1/people/me" and seen.query["personFields"] == ["names,emailAddresses"]


def test_given_a_send_only_connection_when_tested_then_the_userinfo_endpoint_answers_instead(pw):
    rec = pw.connect(["gmail.send"])

    body = probe(pw, rec).get_json()

    assert body["ok"] is True
    assert body["account"]["email"] == ALICE and body["account"]["sub"] == pw.fake.account(ALICE).sub
    assert [r.endpoint for r in pw.api_requests()] == ["userinfo"]


def test_given_a_connection_that_needs_reauth_when_tested_then_ok_is_false_with_needs_reauth(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.NEEDS_REAUTH)

    resp = probe(pw, rec)

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is False and body["error"]["code"] == "needs_reauth" and body["account"] is None
    assert pw.api_requests() == []


def test_given_a_grant_revoked_at_google_when_tested_then_ok_is_false_with_needs_reauth(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.revoke_all_for(ALICE)

    body = probe(pw, rec).get_json()

    assert body["ok"] is False and body["error"]["code"] == "needs_reauth"


def test_given_a_revoked_connection_when_tested_then_ok_is_false_with_revoked(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.REVOKED, status_reason="revoked_by_admin")

    body = probe(pw, rec).get_json()

    assert body["ok"] is False and body["error"]["code"] == "revoked"


def test_given_google_failing_when_tested_then_ok_is_false_with_upstream_error_and_its_status(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.fail_next("gmail", status=400, error="failedPrecondition")

    body = probe(pw, rec).get_json()

    assert body["ok"] is False
    assert body["error"]["code"] == "upstream_error"
    assert (
        body["error"]["upstream_status"] == 400 and body["error"]["upstream_reason"] == "failedPrecondition"
    )


def test_given_a_token_of_another_account_when_tested_then_ok_is_false_with_account_mismatch(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.update(rec, account_email="mallory@example.com")

    body = probe(pw, rec).get_json()

    assert body["ok"] is False and body["error"]["code"] == "account_mismatch"


def test_given_another_users_connection_when_tested_then_it_is_404(pw):
    rec = pw.connect(["gmail.readonly"], owner="alice")

    resp = probe(pw, rec, user="bob")

    assert resp.status_code == 404 and problem(resp)["code"] == "not_found"


def test_given_token_exposure_off_when_the_token_is_asked_for_then_it_is_403_token_exposure_disabled(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = token(pw, rec)

    assert resp.status_code == 403
    assert problem(resp)["code"] == "token_exposure_disabled"


def test_given_another_users_connection_when_its_token_is_asked_for_then_it_is_404_whatever_the_setting(pw):
    rec = pw.connect(["gmail.readonly"], owner="alice")

    assert problem(token(pw, rec, user="bob"))["code"] == "not_found"
    pw.services.settings.update("acme", {"expose_access_tokens": True})
    assert problem(token(pw, rec, user="bob"))["code"] == "not_found"


def test_given_token_exposure_on_when_the_token_is_asked_for_then_it_comes_back_uncached(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.services.settings.update("acme", {"expose_access_tokens": True})
    ctx = EncryptionContext(rec.tenant, rec.id, "access_token")
    stored = pw.services.envelope.decrypt(rec.enc_access_token, ctx).decode()

    resp = token(pw, rec)

    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["access_token"] == stored
    assert body["expires_at"].endswith("Z") and int(parse_rfc3339(body["expires_at"])) == rec.expires_at
    assert body["scopes"] == rec.scopes_granted


def test_given_token_exposure_on_and_a_connection_that_needs_reauth_when_the_token_is_asked_for_then_409(pw):
    rec = pw.connect(["gmail.readonly"], status=ConnectionStatus.NEEDS_REAUTH)
    pw.services.settings.update("acme", {"expose_access_tokens": True})

    resp = token(pw, rec)

    assert resp.status_code == 409 and problem(resp)["code"] == "needs_reauth"
