"""Retry decisions and waits: what is retried, how long, and Retry-After."""

from __future__ import annotations

import json

import pytest

from oauth_broker.proxy.retry import RetryPolicy, google_rate_limit_reason, parse_retry_after

JSON = {"content-type": "application/json; charset=UTF-8"}


def _google_error(reason: str, status: int = 403) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": status,
                "message": "slow down",
                "errors": [{"reason": reason, "domain": "usageLimits"}],
            }
        }
    ).encode()


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_given_a_throttle_or_server_error_when_judged_then_it_is_retryable(status):
    assert RetryPolicy().is_retryable(status, {}, b"")


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 404, 409, 501, 505])
def test_given_a_final_answer_when_judged_then_it_is_not_retried(status):
    assert not RetryPolicy().is_retryable(status, {}, b"")


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_given_googles_rate_limit_403_when_judged_then_it_is_retryable(reason):
    assert RetryPolicy().is_retryable(403, JSON, _google_error(reason))
    assert google_rate_limit_reason(_google_error(reason), JSON["content-type"]) == reason


@pytest.mark.parametrize("reason", ["insufficientPermissions", "dailyLimitExceeded", "forbidden"])
def test_given_another_403_when_judged_then_it_is_not_retried(reason):
    assert not RetryPolicy().is_retryable(403, JSON, _google_error(reason))


def test_given_a_403_that_is_not_json_when_judged_then_it_is_not_retried():
    assert not RetryPolicy().is_retryable(
        403, {"content-type": "text/html"}, b"<html>rateLimitExceeded</html>"
    )


def test_given_retry_after_seconds_or_an_http_date_when_parsed_then_the_wait_is_in_seconds():
    assert parse_retry_after("3", now=0) == 3.0
    assert parse_retry_after("1.5", now=0) == 1.5
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0) == 6.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=100.0) == 0.0
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("-5", now=0) == 0.0


def test_given_no_retry_after_when_waiting_then_the_wait_is_full_jitter_under_a_growing_cap():
    policy = RetryPolicy(base_delay=0.25, max_delay=8.0)

    assert policy.delay(0, retry_after=None, rng=lambda: 1.0) == 0.25
    assert policy.delay(3, retry_after=None, rng=lambda: 1.0) == 2.0
    assert policy.delay(10, retry_after=None, rng=lambda: 1.0) == 8.0
    assert policy.delay(3, retry_after=None, rng=lambda: 0.0) == 0.0
    assert policy.delay(3, retry_after=None, rng=lambda: 0.5) == 1.0


def test_given_a_retry_after_when_waiting_then_the_wait_is_at_least_that_long():
    policy = RetryPolicy(base_delay=0.25)

    assert policy.delay(0, retry_after=2.0, rng=lambda: 0.0) == 2.0
    assert 2.0 <= policy.delay(5, retry_after=2.0, rng=lambda: 1.0) <= 2.25
