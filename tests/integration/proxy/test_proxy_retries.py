"""A 401 gets one forced refresh and one retry; 429, 5xx and Google's rate-limit 403s are retried
with backoff (honouring Retry-After) while the function has time; then the answer passes through."""

from __future__ import annotations

import time

from brokertest.proxy import ALICE, problem
from brokertest.tokens import FakeClock
from oauth_broker.proxy.retry import RetryPolicy
from oauth_broker.proxy.service import ProxyRequest, ProxyService
from oauth_broker.store.models import ConnectionStatus

PROFILE = "gmail/v1/users/me/profile"


def test_given_an_access_token_google_no_longer_accepts_when_proxied_then_it_is_refreshed_once_and_retried(
    pw,
):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.expire_access_tokens(ALICE)

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 200 and resp.get_json()["emailAddress"] == ALICE
    assert pw.fake.token_requests["refresh_token"] == 1
    first, second = pw.api_requests()
    assert first.status == 401 and second.status == 200
    assert first.headers["Authorization"] != second.headers["Authorization"]


def test_given_a_revoked_grant_when_proxied_then_the_refresh_fails_and_it_is_409_needs_reauth(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.revoke_all_for(ALICE)

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 409
    assert problem(resp)["code"] == "needs_reauth"
    assert pw.services.connections.get(rec.id).status == ConnectionStatus.NEEDS_REAUTH
    assert len(pw.api_requests()) == 1  # one 401, one failed refresh, no second call


def test_given_a_429_with_retry_after_when_proxied_then_the_broker_waits_that_long_and_retries(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.rate_limit_next(count=1, retry_after=1)

    started = time.monotonic()
    resp = pw.proxy(rec, PROFILE)
    elapsed = time.monotonic() - started

    assert resp.status_code == 200
    first, second = pw.api_requests()
    assert first.status == 429 and second.status == 200
    assert second.timestamp - first.timestamp >= 1.0
    assert elapsed >= 1.0


def test_given_a_retry_after_beyond_the_time_left_when_proxied_then_the_429_passes_through_at_once(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.rate_limit_next(count=1, retry_after=120)

    started = time.monotonic()
    resp = pw.proxy(rec, PROFILE)

    assert time.monotonic() - started < 5
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "120"
    assert len(pw.api_requests()) == 1


def test_given_transient_5xx_when_proxied_then_they_are_retried_until_google_answers(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.fail_next("gmail", status=503, count=2)

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 200
    assert [r.status for r in pw.api_requests()] == [503, 503, 200]


def test_given_5xx_that_do_not_stop_when_proxied_then_the_last_answer_passes_through_after_max_attempts(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.fail_next("gmail", status=500, count=50)

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.get_json()["error"]["code"] == 500  # Google's own error body, unchanged
    assert len(pw.api_requests()) == RetryPolicy().max_attempts


def test_given_googles_rate_limit_403_when_proxied_then_it_is_retried(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.gmail_rate_limit_403_next(count=1, reason="rateLimitExceeded")

    resp = pw.proxy(rec, PROFILE)

    assert resp.status_code == 200
    assert [r.status for r in pw.api_requests()] == [403, 200]


def test_given_a_final_4xx_when_proxied_then_it_passes_through_without_a_retry(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = pw.proxy(rec, "gmail/v1/users/me/messages/doesnotexist")

    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == 404
    assert len(pw.api_requests()) == 1


def _service(pw, clock: FakeClock) -> ProxyService:
    return ProxyService(pw.services, clock=clock, rng=lambda: 1.0)


def test_given_repeated_503s_when_forwarded_then_the_waits_grow_exponentially_up_to_max_attempts(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.fail_next("gmail", status=503, count=50)
    clock = FakeClock()
    service = _service(pw, clock)
    provider = service.provider_of(rec)

    upstream = service.forward(rec, provider, ProxyRequest("GET", PROFILE), deadline=clock.monotonic() + 29)

    assert upstream.status == 503 and upstream.attempts == 5
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0]


def test_given_a_short_deadline_when_forwarded_then_no_wait_runs_past_it(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.fake.fail_next("gmail", status=503, count=50)
    clock = FakeClock()
    service = _service(pw, clock)
    provider = service.provider_of(rec)

    upstream = service.forward(rec, provider, ProxyRequest("GET", PROFILE), deadline=clock.monotonic() + 3)

    assert upstream.status == 503
    assert clock.sleeps == [0.25, 0.5, 1.0]  # the next wait (2 s) + one attempt would pass the deadline
    assert upstream.attempts == 4
