"""Our two fuzz checks catch what they name (plain unit tests: no broker, no sockets)."""

from __future__ import annotations

import base64
import json

import pytest

from fuzz.checks import leaked_secrets, problem_violation, server_error_violation
from fuzz.local_urls import keep_local

SECRET = "fuzz-client-secret-Zm9vYmFyYmF6cXV4cXV1eA"
PROBLEM = json.dumps(
    {
        "type": "urn:oauth-broker:problem:not_found",
        "title": "Not found",
        "status": 404,
        "detail": "x",
        "code": "not_found",
    }
).encode()


def violation(status=404, content_type="application/problem+json", body=PROBLEM, method="GET", path="/v1/x"):
    return problem_violation(
        method=method, path_template=path, status=status, content_type=content_type, body=body
    )


def test_given_a_problem_document_when_checked_then_it_passes():
    assert violation() is None


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"content_type": "application/json"}, "Content-Type"),
        ({"content_type": "text/html", "body": b"<p>no</p>"}, "Content-Type"),
        ({"body": b"[]"}, "not a JSON object"),
        ({"body": json.dumps({"type": "t", "title": "t", "status": 404, "detail": "d"}).encode()}, "lacks"),
        ({"status": 409}, "says status 404"),
        ({"body": PROBLEM.replace(b'"code": "not_found"', b'"code": "NotFound"')}, "snake_case"),
        ({"body": PROBLEM.replace(b'"code": "not_found"', b'"code": "not found"')}, "snake_case"),
    ],
)
def test_given_a_4xx_that_is_not_a_problem_document_when_checked_then_the_reason_is_named(kwargs, why):
    assert why in (violation(**kwargs) or "")


def test_given_the_gateways_own_401_and_403_when_checked_then_they_pass_and_other_bodies_do_not():
    assert violation(401, "application/json", b'{"message": "Unauthorized"}') is None
    assert violation(403, "application/json", b'{"message": "Forbidden"}') is None
    assert violation(403, "application/json", b'{"message": "Nope"}') is not None
    assert violation(404, "application/json", b'{"message": "Unauthorized"}') is not None


def test_given_a_browser_route_or_the_proxy_when_a_non_problem_4xx_comes_back_then_it_is_theirs_to_shape():
    assert violation(400, "text/html", b"<p>bad</p>", path="/v1/oauth/callback") is None
    assert (
        violation(404, "application/json", b"{}", path="/v1/connections/{connection_id}/proxy/{path}") is None
    )
    assert violation(400, "application/json", b"{}", path="/v1/oauth/callback") is not None


def test_given_a_2xx_or_a_head_when_checked_then_only_4xx_bodies_are_judged():
    assert violation(200, "application/json", b"{}") is None
    assert violation(404, "application/problem+json", b"", method="HEAD") is None
    assert violation(404, "application/json", b"", method="HEAD") is not None


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b'{"x":"'])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_given_a_secret_in_base64_at_any_alignment_when_checked_then_it_is_found(prefix, urlsafe):
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    body = encode(prefix + SECRET.encode() + b"-tail")
    assert leaked_secrets({"client_secret": SECRET}, body, []) == ["client_secret"]


def test_given_a_secret_in_plaintext_body_or_header_when_checked_then_it_is_found():
    assert leaked_secrets({"s": SECRET}, f'{{"v": "{SECRET}"}}'.encode(), []) == ["s"]
    assert leaked_secrets({"s": SECRET}, b"{}", [("Location", f"https://x/?k={SECRET}")]) == ["s"]


def test_given_no_secret_or_an_allowed_one_when_checked_then_nothing_is_reported():
    assert leaked_secrets({"s": SECRET}, b'{"hint": "\\u2026eA"}', [("X", "y")]) == []
    assert leaked_secrets({"s": SECRET}, SECRET.encode(), [], allowed=["s"]) == []


def test_given_urls_in_a_generated_body_when_kept_local_then_only_the_brokers_own_origin_survives():
    broker = "http://127.0.0.1:4000"
    body = {
        "webhook_url": "https://hooks.example.com/x?y=1",
        "nested": [{"issuer": "http://localhost:3000/other-agent"}],
        "return_to": "http://127.0.0.1:4000/done",
        "name": "https://not-a-url-field.example",
        "n": 3,
    }
    assert keep_local(body, broker) == {
        "webhook_url": "https://localhost:9/x?y=1",
        "nested": [{"issuer": "http://localhost:9/other-agent"}],
        "return_to": "http://127.0.0.1:4000/done",
        "name": "https://localhost:9",
        "n": 3,
    }


PROXY = "/v1/connections/{connection_id}/proxy/{path}"
GOOGLE_501 = json.dumps(
    {"error": {"code": 501, "message": "not implemented", "status": "UNIMPLEMENTED"}}
).encode()


def server_violation(
    status, content_type="application/json; charset=UTF-8", body=GOOGLE_501, path=PROXY, method="POST"
):
    return server_error_violation(
        method=method, path_template=path, status=status, content_type=content_type, body=body
    )


def test_given_googles_own_5xx_through_the_proxy_when_checked_then_it_is_the_providers_not_a_broker_error():
    assert server_violation(501) is None
    assert server_violation(501, body=b"", method="HEAD") is None  # a HEAD answer has no body
    assert server_violation(404, body=b"<html>") is None  # not a 5xx at all


@pytest.mark.parametrize(
    ("status", "content_type", "body", "path"),
    [
        pytest.param(
            501, "application/json", GOOGLE_501, "/v1/connections/{connection_id}/test", id="not the proxy"
        ),
        pytest.param(500, "application/problem+json", PROBLEM, PROXY, id="the broker's problem on the proxy"),
        pytest.param(500, "application/json", b'{"message": "Internal Server Error"}', PROXY, id="a crash"),
        pytest.param(502, "application/json", GOOGLE_501, PROXY, id="Google's shape with another code"),
        pytest.param(501, "text/html", b"<html>", PROXY, id="not Google's shape"),
        pytest.param(500, "application/json", b"", PROXY, id="an empty body to a POST"),
    ],
)
def test_given_a_5xx_of_the_brokers_own_when_checked_then_it_is_a_violation(status, content_type, body, path):
    assert server_violation(status, content_type, body, path) == f"server error {status}"
