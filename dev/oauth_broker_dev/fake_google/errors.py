"""Responses in Google's own error shapes (OAuth endpoints and the JSON APIs)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

REALM = 'Bearer realm="https://accounts.google.com/"'

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULTS = {
    400: ("Bad Request", "badRequest", "global"),
    401: ("Invalid Credentials", "authError", "global"),
    403: ("The caller does not have permission", "forbidden", "global"),
    404: ("Requested entity was not found.", "notFound", "global"),
    409: ("Aborted", "aborted", "global"),
    429: ("Resource has been exhausted (e.g. check quota).", "rateLimitExceeded", "global"),
    500: ("Internal error encountered.", "backendError", "global"),
    501: ("Operation is not implemented, or supported, or enabled.", "notImplemented", "global"),
    502: ("Bad Gateway", "backendError", "global"),
    503: ("The service is currently unavailable.", "backendError", "global"),
    504: ("Deadline exceeded.", "backendError", "global"),
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        status=status,
        mimetype="application/json",
    )
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_error_body(
    status: int,
    message: str | None = None,
    reason: str | None = None,
    domain: str | None = None,
    error_message: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    default_message, default_reason, default_domain = _DEFAULTS.get(status, ("Error", "unknown", "global"))
    message = message or default_message
    error: dict[str, Any] = {"message": error_message or message, "domain": domain or default_domain}
    error["reason"] = reason or default_reason
    error.update(extra)
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [error],
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def api_error(
    status: int,
    message: str | None = None,
    reason: str | None = None,
    *,
    domain: str | None = None,
    error_message: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = api_error_body(status, message, reason, domain, error_message, **extra)
    return json_response(body, status, headers)


def unauthenticated(missing: bool) -> Response:
    if missing:
        return api_error(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. "
            "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "required",
            error_message="Login Required.",
            location="Authorization",
            locationType="header",
            headers={"WWW-Authenticate": REALM},
        )
    return api_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        location="Authorization",
        locationType="header",
        headers={"WWW-Authenticate": REALM + ', error="invalid_token"'},
    )


def insufficient_scope(needed: tuple[str, ...], service: str) -> Response:
    body = api_error_body(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        error_message="Insufficient Permission",
    )
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": service},
        }
    ]
    header = REALM + f', error="insufficient_scope", scope="{" ".join(needed)}"'
    return json_response(body, 403, {"WWW-Authenticate": header})


def rate_limit_403(reason: str = "userRateLimitExceeded") -> Response:
    message = "User Rate Limit Exceeded" if reason == "userRateLimitExceeded" else "Rate Limit Exceeded"
    return api_error(403, message, reason, domain="usageLimits")


def oauth_error(
    error: str,
    description: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if status is None:
        status = 401 if error == "invalid_client" else 400
    body = {
        "error": error,
        "error_description": description or ("Unauthorized" if status == 401 else "Bad Request"),
    }
    merged = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return json_response(body, status, merged)
