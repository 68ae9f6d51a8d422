"""A provider's error answer to a typed call (Gmail, Contacts, the profile probe) as a problem.

The raw proxy passes provider errors through unchanged; the typed routes answer problem documents
instead, each naming the provider's status and reason (`upstream_status`, `upstream_reason`) and
its message, shortened and without control characters (Google's messages carry no secrets).
"""

from __future__ import annotations

import json
import re
from typing import Any

from oauth_broker.errors import (
    BadRequest,
    BrokerError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    UpstreamError,
)
from oauth_broker.proxy.retry import google_rate_limit_reason
from oauth_broker.proxy.service import UpstreamResponse

__all__ = ["google_error", "raise_for_upstream", "upstream_problem"]

_MAX_MESSAGE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def google_error(response: UpstreamResponse) -> tuple[str | None, str | None]:
    """(message, reason) of a Google API error body (`error.message`, `error.errors[0].reason` or
    `error.status`); (None, None) when the body is not one."""
    try:
        document: Any = json.loads(response.content() or b"null")
    except (ValueError, BrokerError, OSError, EOFError):
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, str):  # OAuth-style {"error": "invalid_token", "error_description": ...}
        return None, error
    if not isinstance(error, dict):
        return None, None
    message = error.get("message")
    reason = None
    details = error.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        reason = details[0].get("reason")
    reason = reason or error.get("status")
    text = _CONTROL.sub(" ", str(message))[:_MAX_MESSAGE].strip() if isinstance(message, str) else None
    return text or None, str(reason) if reason else None


def upstream_problem(response: UpstreamResponse, *, what: str) -> BrokerError:
    """The problem for a provider's non-2xx answer to `what` (e.g. "listing Gmail messages")."""
    status = response.status
    message, reason = google_error(response)
    extra: dict[str, Any] = {"upstream_status": status, "upstream_reason": reason}
    detail = f"{what}: the provider answered {status}" + (f" ({message})" if message else "")
    if status == 404:
        return NotFound(detail, **extra)
    if status == 429 or (
        status == 403 and google_rate_limit_reason(response.content(), response.header("Content-Type"))
    ):
        retry_after = response.header("Retry-After")
        return RateLimited(detail, headers={"Retry-After": retry_after} if retry_after else None, **extra)
    if status == 403:
        return Forbidden(detail, **extra)
    if status == 409:
        return Conflict(detail, **extra)
    if status in (400, 411, 413, 414, 416, 422):
        return BadRequest(detail, **extra)
    if status == 401:
        return UpstreamError(f"{what}: the provider rejected the connection's fresh access token", **extra)
    return UpstreamError(detail, **extra)


def raise_for_upstream(response: UpstreamResponse, *, what: str) -> None:
    if not response.ok:
        raise upstream_problem(response, what=what)
