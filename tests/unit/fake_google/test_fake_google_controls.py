"""The fake's test controls: injected failures, rate limits, user revocation, token expiry,
the request log and counters, reset, and the same controls over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from oauth_broker_dev.fake_google import FakeGoogle
from oauth_broker_dev.fake_google.scopes import GMAIL_READONLY
from oauth_broker_dev.fake_google.testing import OAuthFlow

ALICE = "alice@example.com"
BOB = "bob@example.com"
Bearer = Callable[..., dict[str, str]]
PROFILE = "/gmail/v1/users/me/profile"


def test_given_fail_next_token_500_when_refreshing_then_one_500_then_success(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(["openid", GMAIL_READONLY], ALICE)
    fake.fail_next("token", status=500)

    first = flow.refresh(tokens["refresh_token"])
    second = flow.refresh(tokens["refresh_token"])

    assert first.status_code == 500
    assert "error" in first.json()
    assert second.status_code == 200


def test_given_fail_next_token_invalid_grant_when_refreshing_then_google_s_400_shape(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(["openid", GMAIL_READONLY], ALICE)
    fake.fail_next("token", error="invalid_grant")

    response = flow.refresh(tokens["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_given_fail_next_with_count_when_calling_gmail_then_that_many_requests_fail(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    fake.fail_next("gmail", status=503, count=2)

    statuses = [client.get(PROFILE, headers=headers).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_given_fail_next_people_when_calling_gmail_then_gmail_is_untouched(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    fake.fail_next("people", status=500)

    response = client.get(PROFILE, headers=bearer())

    assert response.status_code == 200
    assert len(fake.pending_failures) == 1


def test_given_fail_next_with_only_a_delay_when_calling_then_the_request_is_slow_but_succeeds(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    fake.fail_next("any-api", delay=0.3)

    started = time.monotonic()
    response = client.get(PROFILE, headers=headers)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_given_rate_limit_next_when_calling_an_api_then_429_with_retry_after(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    fake.rate_limit_next(count=1, retry_after=7)

    limited = client.get(PROFILE, headers=headers)
    after = client.get(PROFILE, headers=headers)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert after.status_code == 200


def test_given_gmail_rate_limit_403_next_when_calling_gmail_then_user_rate_limit_exceeded(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    fake.gmail_rate_limit_403_next(count=1)

    response = client.get(PROFILE, headers=bearer())

    assert response.status_code == 403
    error = response.json()["error"]["errors"][0]
    assert (error["reason"], error["domain"]) == ("userRateLimitExceeded", "usageLimits")


def test_given_an_unknown_endpoint_when_calling_fail_next_then_value_error(fake: FakeGoogle) -> None:
    with pytest.raises(ValueError):
        fake.fail_next("gmial", status=500)


def test_given_the_user_revokes_access_when_refreshing_then_invalid_grant(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(["openid", GMAIL_READONLY], ALICE)

    revoked = fake.revoke_all_for(ALICE)
    response = flow.refresh(tokens["refresh_token"])

    assert revoked == 1
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert fake.granted_scopes(ALICE, flow.client_id) == []


def test_given_expired_access_tokens_when_calling_gmail_then_401_and_a_refresh_fixes_it(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(["openid", GMAIL_READONLY], ALICE)
    fake.expire_access_tokens()

    expired = flow.client.get(PROFILE, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    fresh = flow.refresh(tokens["refresh_token"]).json()["access_token"]
    again = flow.client.get(PROFILE, headers={"Authorization": f"Bearer {fresh}"})

    assert expired.status_code == 401
    assert again.status_code == 200


def test_given_requests_when_reading_the_log_and_counters_then_every_request_is_recorded(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    tokens = flow.tokens(["openid", GMAIL_READONLY], ALICE)
    flow.refresh(tokens["refresh_token"])
    flow.client.get(PROFILE, headers={"Authorization": f"Bearer {tokens['access_token']}"})

    token_calls = fake.requests_to("token")
    gmail_calls = fake.requests_to("gmail")
    assert fake.token_requests == {"authorization_code": 1, "refresh_token": 1}
    assert [r.form()["grant_type"] for r in token_calls] == [["authorization_code"], ["refresh_token"]]
    assert gmail_calls[0].method == "GET"
    assert gmail_calls[0].path == PROFILE
    assert gmail_calls[0].headers["Authorization"] == f"Bearer {tokens['access_token']}"
    assert gmail_calls[0].status == 200


def test_given_state_when_reset_then_tokens_logs_and_rules_are_gone(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    fake.fail_next("token", status=500)
    client.get(PROFILE, headers=headers)

    fake.reset()

    assert client.get(PROFILE, headers=headers).status_code == 401
    assert fake.pending_failures == []
    assert [r.path for r in fake.requests] == [PROFILE]
    assert fake.token_requests == {}


def test_given_the_http_controls_when_used_then_they_drive_the_same_state(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(BOB)

    armed = client.post("/_control/rate_limit_next", json={"count": 1, "retry_after": 3})
    limited = client.get(PROFILE, headers=headers)
    client.post("/_control/revoke_all_for", json={"email": BOB})
    revoked = client.get(PROFILE, headers=headers)
    log = client.get("/_control/requests", params={"endpoint": "gmail"}).json()["requests"]
    counters = client.get("/_control/counters").json()

    assert armed.status_code == 200
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert revoked.status_code == 401
    assert [r["status"] for r in log] == [429, 401]
    assert counters["concurrency"]["peak_by_account"] == {BOB: 1}
    assert all(not r.path.startswith("/_control") for r in fake.requests)


def test_given_the_http_consent_control_when_posting_an_authorize_url_then_a_code_comes_back(
    fake: FakeGoogle, flow: OAuthFlow
) -> None:
    url = str(httpx.URL(fake.url("/o/oauth2/v2/auth"), params=flow.params(["openid", GMAIL_READONLY])))

    response = flow.client.post("/_control/consent", json={"authorize_url": url, "account": BOB})

    assert response.status_code == 200
    assert "code=" in response.json()["location"]
