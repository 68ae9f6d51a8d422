"""A provider's error answer to a typed call, as the problem document the caller gets."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from oauth_broker.errors import UpstreamError
from oauth_broker.proxy.service import ProxyRequest, UpstreamResponse
from oauth_broker.proxy.upstream_errors import google_error, upstream_problem

JSON = {"Content-Type": "application/json; charset=UTF-8"}


def google(
    status: int, message: str = "Requested entity was not found.", reason: str = "notFound"
) -> UpstreamResponse:
    body = {
        "error": {"code": status, "message": message, "errors": [{"reason": reason}], "status": "NOT_FOUND"}
    }
    return UpstreamResponse(status, dict(JSON), json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "reason", "code", "problem_status"),
    [
        (404, "notFound", "not_found", 404),
        (400, "invalidArgument", "bad_request", 400),
        (403, "insufficientPermissions", "forbidden", 403),
        (403, "userRateLimitExceeded", "rate_limited", 429),
        (429, "rateLimitExceeded", "rate_limited", 429),
        (409, "aborted", "conflict", 409),
        (500, "backendError", "upstream_error", 502),
        (503, "backendError", "upstream_error", 502),
        (401, "authError", "upstream_error", 502),
    ],
)
def test_given_a_google_error_when_mapped_then_the_problem_has_a_stable_code_and_names_googles_answer(
    status, reason, code, problem_status
):
    problem = upstream_problem(google(status, reason=reason), what="reading the message")

    assert (problem.code, problem.status) == (code, problem_status)
    assert problem.extra["upstream_status"] == status and problem.extra["upstream_reason"] == reason


def test_given_a_429_with_retry_after_when_mapped_then_the_header_is_kept():
    response = UpstreamResponse(429, {**JSON, "Retry-After": "7"}, b"{}")

    assert upstream_problem(response, what="x").headers == {"Retry-After": "7"}


def test_given_a_long_message_with_control_characters_when_mapped_then_it_is_cleaned_and_shortened():
    message, reason = google_error(google(400, message="bad\r\nvalue " + "x" * 500, reason="invalid"))

    assert message is not None and "\n" not in message and len(message) <= 300
    assert reason == "invalid"


def test_given_a_body_that_is_not_json_when_mapped_then_there_is_no_message_but_a_problem_all_the_same():
    problem = upstream_problem(
        UpstreamResponse(502, {"Content-Type": "text/html"}, b"<html>oops</html>"), what="x"
    )

    assert problem.code == "upstream_error" and problem.extra["upstream_reason"] is None


def test_given_a_compressed_body_when_read_then_gzip_and_deflate_are_undone():
    data = b'{"ok": true}'

    assert UpstreamResponse(200, {"Content-Encoding": "gzip"}, gzip.compress(data)).json() == {"ok": True}
    assert UpstreamResponse(200, {"content-encoding": "deflate"}, zlib.compress(data)).json() == {"ok": True}
    with pytest.raises(UpstreamError):
        UpstreamResponse(200, {"Content-Encoding": "br"}, b"\x00").json()


def test_given_a_typed_call_when_built_then_the_query_is_encoded_and_the_body_is_compact_json():
    request = ProxyRequest.api(
        "POST",
        "gmail/v1/users/me/messages/send",
        query=[("q", "from:a@b.c is:unread")],
        json_body={"raw": "x"},
    )

    assert request.query == "q=from%3Aa%40b.c%20is%3Aunread"
    assert request.body == b'{"raw":"x"}' and request.headers["content-type"] == "application/json"
    assert request.headers["accept-encoding"] == "gzip"
