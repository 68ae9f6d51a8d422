"""Our checks, on top of schemathesis' own: every 4xx is a problem document with a stable
snake_case `code`, no response carries a secret the test seeded, in plaintext or base64, and no
5xx is the broker's (schemathesis' `not_a_server_error`, but a provider's own 5xx that the proxy
passes through unchanged is the provider's)."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# API Gateway's own answers before any handler runs (API.md "Who is calling"): not reshapeable.
GATEWAY_BODIES = {401: {"message": "Unauthorized"}, 403: {"message": "Forbidden"}}
# The browser routes answer a person, not a program: their 400s are HTML pages (API.md "The callback").
BROWSER_ROUTES = frozenset({"/v1/oauth/authorize", "/v1/oauth/callback"})
PROXY_PATH = "/v1/connections/{connection_id}/proxy/{path}"


def problem_violation(
    *, method: str, path_template: str, status: int, content_type: str, body: bytes
) -> str | None:
    """Why a 4xx answer is not what API.md promises, or None when it is."""
    if not 400 <= status < 500:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if path_template in BROWSER_ROUTES and media_type == "text/html":
        return None
    if path_template == PROXY_PATH and media_type != PROBLEM_CONTENT_TYPE:
        return None  # the provider's own answer, passed through unchanged (API.md "The proxy")
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    gateway = status in GATEWAY_BODIES and media_type == "application/json"
    if gateway and (parsed == GATEWAY_BODIES[status] or (method.upper() == "HEAD" and not body)):
        return None
    if media_type != PROBLEM_CONTENT_TYPE:
        return f"{status} answered with Content-Type {content_type or '(none)'!r}, not {PROBLEM_CONTENT_TYPE}"
    if method.upper() == "HEAD":
        return None  # a HEAD answer has no body (RFC 9110 section 9.3.2): its Content-Type is all there is
    if not isinstance(parsed, dict):
        return f"{status} problem document is not a JSON object"
    missing = [k for k in ("type", "title", "status", "detail", "code") if k not in parsed]
    if missing:
        return f"{status} problem document lacks {missing}"
    if parsed["status"] != status:
        return f"problem document says status {parsed['status']!r}, the response is {status}"
    if not isinstance(parsed["code"], str) or not CODE.match(parsed["code"]):
        return f"problem code {parsed['code']!r} is not stable snake_case"
    return None


def server_error_violation(
    *, method: str, path_template: str, status: int, content_type: str, body: bytes
) -> str | None:
    """Why a 5xx is the broker's failure, or None when it is not a 5xx, or is the provider's own
    answer passed through by the proxy (Google's error shape, `{"error": {"code": <status>, ...}}`:
    the fake Google answers 501 for a method it does not implement; a HEAD answer has no body). The
    broker's own 5xx, a problem document or API Gateway's `{"message": ...}`, is always one."""
    if status < 500:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if path_template == PROXY_PATH and media_type == "application/json":
        if method.upper() == "HEAD" and not body:
            return None
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and error.get("code") == status:
            return None
    return f"server error {status}"


def secret_forms(secret: str) -> set[bytes]:
    """The secret as it could appear in a response: itself, and the part of its base64 (standard
    and URL-safe, at each of the three byte alignments) that depends on the secret alone."""
    raw = secret.encode()
    forms = {raw}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # the first quantum mixes in the shift bytes, the last one may mix with what follows
        core = encoded[4 if shift else 0 : len(encoded) - 4]
        if len(core) >= 16:
            forms.add(core)
            forms.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return forms


def leaked_secrets(
    secrets: dict[str, str], body: bytes, headers: Iterable[tuple[str, str]], *, allowed: Iterable[str] = ()
) -> list[str]:
    """The names of the seeded secrets found in a response's body or headers."""
    haystack = body + b"\n" + b"\n".join(f"{k}: {v}".encode() for k, v in headers)
    skip = set(allowed)
    return sorted(
        name
        for name, value in secrets.items()
        if name not in skip and any(form in haystack for form in secret_forms(value))
    )


# What the checks compare against: filled in by the fuzz fixtures once the worlds are seeded.
SEEDED_SECRETS: dict[str, str] = {}
# connection id -> the seeded access token that `GET .../token` may hand out when the tenant
# turned `expose_access_tokens` on (API.md: the one route a token leaves through).
EXPOSABLE_ACCESS_TOKENS: dict[str, str] = {}


# (operation, status) -> how many answers: the run's reach, printed at the end of the session.
SEEN: Counter[tuple[str, int]] = Counter()


def _headers(response: Response) -> list[tuple[str, str]]:
    return [(k, v) for k, values in response.headers.items() for v in values]


@schemathesis.check
def problem_documents(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx is an RFC 9457 problem document with a stable snake_case `code`."""
    content_type = ", ".join(response.headers.get("content-type", []))
    why = problem_violation(
        method=case.method,
        path_template=case.path,
        status=response.status_code,
        content_type=content_type,
        body=response.content or b"",
    )
    if why is not None:
        raise AssertionError(f"not a problem document: {why}")
    return None


@schemathesis.check
def not_a_broker_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No 5xx from the broker (the provider's own 5xx through the proxy is the provider's)."""
    why = server_error_violation(
        method=case.method,
        path_template=case.path,
        status=response.status_code,
        content_type=", ".join(response.headers.get("content-type", [])),
        body=response.content or b"",
    )
    if why is not None:
        raise AssertionError(why)
    return None


@schemathesis.check
def no_seeded_secret(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No response (body or headers) carries a secret the test seeded, plaintext or base64."""
    allowed: list[str] = []
    if case.method.upper() == "GET" and case.path.endswith("/token") and response.status_code == 200:
        connection_id = str((case.path_parameters or {}).get("connection_id", ""))
        token = EXPOSABLE_ACCESS_TOKENS.get(connection_id)
        allowed = [name for name, value in SEEDED_SECRETS.items() if value == token]
    found = leaked_secrets(SEEDED_SECRETS, response.content or b"", _headers(response), allowed=allowed)
    if found:
        raise AssertionError(f"the response carries seeded secret(s): {', '.join(found)}")
    return None
