"""Header hygiene: what the caller's request may carry to the provider, and what comes back.

Request: the caller's credentials (`Authorization`, `Cookie`, `X-On-Behalf-Of`), `Host`, the
hop-by-hop headers (RFC 9110 section 7.6.1, and any header the `Connection` header names),
`Proxy-*`, the gateway's `X-Forwarded-*`, `Forwarded`, `Via`, `X-Amzn-*` / `X-Amz-*`, framing
(`Content-Length`, `Expect`) and method overrides (`X-HTTP-Method-Override` and friends, which
Google honours and which would dodge the per-method scope check) are dropped; everything else is
forwarded, and the connection's `Authorization: Bearer <token>` is added.

Response: the status and body come back unchanged, with the content headers listed in
`RESPONSE_HEADERS`. The body is passed through as the provider encoded it: the caller's
`Accept-Encoding` is forwarded (`identity` when it sent none) and `Content-Encoding` comes back
with the still-encoded bytes, so the caller decodes exactly what it asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["RESPONSE_HEADERS", "forward_headers", "response_headers"]

_DROP = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "x-on-behalf-of",
        # hop-by-hop
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        # gateway / proxy
        "forwarded",
        "via",
        "x-real-ip",
        "true-client-ip",
        # framing: httpx sets it for the body it sends
        "content-length",
        "expect",
        # method overrides would let a POST act as a DELETE after the scope check
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    }
)
_DROP_PREFIXES = ("proxy-", "x-forwarded-", "x-amzn-", "x-amz-")

# Content headers of the provider's response that come back to the caller.
RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Content-Range",
    "Content-Location",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Expires",
    "Vary",
    "Retry-After",
    "Location",
)
_RESPONSE_CANONICAL = {name.lower(): name for name in RESPONSE_HEADERS}


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    named: set[str] = set()
    for name, value in headers.items():
        if name.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return named


def forward_headers(headers: Mapping[str, str], *, access_token: str) -> dict[str, str]:
    """The headers sent to the provider: the caller's, cleaned, plus the connection's token."""
    named = _connection_tokens(headers)
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _DROP or key in named or key.startswith(_DROP_PREFIXES):
            continue
        out[key] = value
    out.setdefault("accept-encoding", "identity")
    out["authorization"] = f"Bearer {access_token}"
    return out


def response_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The provider's content headers, canonically named (repeated ones joined with ', ')."""
    out: dict[str, str] = {}
    for name, value in headers:
        canonical = _RESPONSE_CANONICAL.get(name.lower())
        if canonical is None:
            continue
        out[canonical] = f"{out[canonical]}, {value}" if canonical in out else value
    return out
