"""`return_to`: where the flow's result goes (the popup's `postMessage` target origin, or the
redirect mode's 303 target). It must be an origin or URL whose origin is on the tenant's
`allowed_return_origins`, compared exactly (scheme, host and port).

URLs that browsers and Python's parser read differently are refused outright, so the origin we
check is the origin the browser goes to: backslashes, whitespace and control characters, user
info (`https://app.example.com@evil.example`), fragments-only tricks and non-http(s) schemes.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauth_broker.weburl import origin_of

MAX_RETURN_TO_LENGTH = 2048
RESULT_PARAMS = ("connection_id", "status", "confirmation", "error", "missing_scopes")


class ReturnToRefused(ValueError):
    """`return_to` is malformed or not on the allow-list (the message is safe to return)."""


def check_return_to(value: str, allowed_origins: Iterable[str]) -> str:
    """`value` if its origin is allowed; raises ReturnToRefused otherwise."""
    if not value or len(value) > MAX_RETURN_TO_LENGTH:
        raise ReturnToRefused("return_to must be a URL of at most 2048 characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        raise ReturnToRefused("return_to must not contain whitespace, control characters or backslashes")
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed `[` of an IPv6 host
        raise ReturnToRefused("return_to is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.netloc or not parts.hostname:
        raise ReturnToRefused("return_to must be an absolute http(s) URL or origin")
    if "@" in parts.netloc:
        raise ReturnToRefused("return_to must not contain user information")
    try:
        origin = origin_of(value)
    except ValueError:  # scheme and host are checked above: only the port is left to be bad
        raise ReturnToRefused("return_to has an invalid port") from None
    allowed = {o.rstrip("/").lower() for o in allowed_origins}
    if origin not in allowed:
        raise ReturnToRefused("return_to is not on the tenant's allowed_return_origins")
    return value


def target_origin(return_to: str) -> str:
    """The exact origin a popup posts its result to."""
    return origin_of(return_to)


def with_result_params(return_to: str, params: dict[str, str]) -> str:
    """`return_to` with the result `params` in its query (any result parameters it already carried
    are dropped, so a stale `error` cannot survive a success), fragment kept."""
    parts = urlsplit(return_to)
    drop = {*RESULT_PARAMS, *params}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in drop]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
