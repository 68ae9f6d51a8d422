"""KMS x the flows that encrypt or decrypt: throttling and KMSInternalException answer a retryable
503/502 with Retry-After, a disabled key 503 with a longer Retry-After, AccessDenied 500
`service_misconfigured` (retrying does not help); the stored tokens are never touched."""

from __future__ import annotations

from typing import Any

import pytest

from brokertest.aws_recorder import PerFunctionDataKeyCache
from brokertest.connect import callback, create_session, provider_redirect, result_of
from brokertest.faults import FaultWorld, assert_no_plaintext, assert_retry_later, oauth_client_secret
from brokertest.proxy import problem

# KMS error code -> (HTTP status, problem code, minimum Retry-After or None)
KMS_FAULTS = {
    "ThrottlingException": (503, "service_unavailable", 1),
    "KMSInternalException": (503, "service_unavailable", 1),
    "DisabledException": (503, "service_unavailable", 30),
    "AccessDeniedException": (500, "service_misconfigured", None),
}


def _cold(fw: FaultWorld) -> None:
    """A cold start: no data key cached, so the next encryption or decryption calls KMS."""
    fw.services.envelope.cache = PerFunctionDataKeyCache()


def _kms(fw: FaultWorld, operation: str, code: str, count: int = 1) -> Any:
    status = 500 if code == "KMSInternalException" else 400
    return fw.faults.fail(fw.world.aws.kms, operation, code, status=status, count=count)


@pytest.mark.parametrize("code", sorted(KMS_FAULTS))
def test_given_kms_failing_when_an_admin_registers_an_oauth_client_then_the_answer_says_whether_to_retry(
    fw: FaultWorld, code: str
) -> None:
    status, problem_code, retry_after = KMS_FAULTS[code]
    _cold(fw)
    injected = _kms(fw, "GenerateDataKey", code)

    resp = fw.register_oauth_client(9)

    assert injected.hits == 1
    if retry_after is None:
        body = problem(resp)
        assert resp.status_code == status and body["code"] == problem_code
        assert "Retry-After" not in resp.headers
    else:
        assert_retry_later(resp, status, problem_code)
        assert int(resp.headers["Retry-After"]) >= retry_after
    assert oauth_client_secret(9) not in fw.table()
    listed = fw.world.request("GET", "/v1/oauth-clients", token=fw.world.token("acme", "root", admin=True))
    assert [c["name"] for c in listed.json["data"]] == ["Acme Gmail"]  # nothing half-registered


@pytest.mark.parametrize("code", ["ThrottlingException", "KMSInternalException", "DisabledException"])
def test_given_kms_failing_when_a_proxied_call_needs_a_refresh_then_502_with_retry_after_and_tokens_kept(
    fw: FaultWorld, code: str
) -> None:
    con = fw.pw.connect(expires_in=0)
    before = fw.services.connections.get(con.id)
    _cold(fw)
    injected = _kms(fw, "Decrypt", code, count=20)

    resp = fw.pw.proxy(con, "gmail/v1/users/me/labels")

    assert injected.hits >= 1
    assert_retry_later(resp, 502, "upstream_error")
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_refresh_token == before.enc_refresh_token
    fw.faults.clear()
    assert fw.pw.proxy(con, "gmail/v1/users/me/labels").status_code == 200


def test_given_kms_throttling_when_a_forced_refresh_stores_new_tokens_then_502_retry_and_the_old_ones_work(
    fw: FaultWorld,
) -> None:
    con = fw.pw.connect()
    before = fw.services.connections.get(con.id)
    _cold(fw)
    injected = _kms(fw, "GenerateDataKey", "ThrottlingException", count=20)

    resp = fw.pw.call("POST", f"/v1/connections/{con.id}/refresh")

    assert injected.hits >= 1
    assert_retry_later(resp, 502, "upstream_error")
    after = fw.services.connections.get(con.id)
    assert after is not None and after.enc_refresh_token == before.enc_refresh_token
    fw.faults.clear()
    assert fw.pw.call("POST", f"/v1/connections/{con.id}/refresh").status_code == 200
    assert_no_plaintext(fw)


@pytest.mark.parametrize("code", ["ThrottlingException", "KMSInternalException"])
def test_given_kms_failing_when_the_callback_opens_the_client_secret_then_the_app_is_told_to_retry(
    fw: FaultWorld, code: str
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    _cold(fw)
    injected = _kms(fw, "Decrypt", code, count=5)

    resp = callback(fw.world, back)

    assert injected.hits >= 1
    assert result_of(resp).get("error") == "service_unavailable"
    assert "Traceback" not in resp.get_data(as_text=True)
    assert not [c for c in fw.pw.call("GET", "/v1/connections").json["data"]]
