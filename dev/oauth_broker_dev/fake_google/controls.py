"""Test controls: injected failures, the request log, revocation records and the in-flight gauge."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

API_ENDPOINTS = frozenset({"gmail", "people", "userinfo"})
ENDPOINTS = frozenset(
    {"auth", "token", "revoke", "jwks", "discovery", "tokeninfo", "risc", "risc_jwks", *API_ENDPOINTS}
)
RULE_TARGETS = frozenset({*ENDPOINTS, "any-api", "any"})


def endpoint_of(path: str) -> str:
    """The endpoint group of a path relative to the base URL."""
    if path.startswith("/o/oauth2"):
        return "auth"
    if path == "/token":
        return "token"
    if path == "/revoke":
        return "revoke"
    if path in {"/jwks", "/oauth2/v3/certs"}:
        return "jwks"
    if path.startswith("/.well-known/"):
        return "discovery"
    if path in {"/v1/userinfo", "/oauth2/v3/userinfo"}:
        return "userinfo"
    if path == "/tokeninfo":
        return "tokeninfo"
    if path.startswith(("/gmail/", "/upload/gmail/")):
        return "gmail"
    if path.startswith("/people/"):
        return "people"
    if path.startswith(("/_control", "/__risc")):
        return "control"
    if path == "/risc/certs":
        return "risc_jwks"
    if path.startswith("/risc/"):
        return "risc"
    return "other"


@dataclass
class FailRule:
    """The next `count` requests to `endpoint` fail (or are delayed).

    status: HTTP status to answer (default 500, or 400 when `error` is set; 401 for invalid_client).
    error: OAuth error code (token/revoke, e.g. "invalid_grant") or API error reason (gmail/people).
    delay: seconds to wait first; with neither status nor error the request then succeeds.
    retry_after: value of a `Retry-After` header.
    body: an exact JSON body to answer instead of Google's shape.
    """

    endpoint: str
    status: int | None = None
    error: str | None = None
    delay: float = 0.0
    count: int = 1
    retry_after: int | float | None = None
    body: dict[str, Any] | None = None
    kind: str = "fail"  # "fail" | "rate_limit_403"

    @property
    def fails(self) -> bool:
        return self.status is not None or self.error is not None or self.body is not None

    def matches(self, endpoint: str) -> bool:
        if self.endpoint == endpoint or self.endpoint == "any":
            return (
                endpoint not in {"control", "auth", "discovery", "jwks", "risc", "risc_jwks"}
                or self.endpoint == endpoint
            )
        return self.endpoint == "any-api" and endpoint in API_ENDPOINTS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RecordedRequest:
    """One request as the fake saw it; `path` is relative to the base URL."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    endpoint: str
    timestamp: float
    status: int | None = None

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "endpoint": self.endpoint,
            "timestamp": self.timestamp,
            "status": self.status,
        }


@dataclass
class Revocation:
    """One call to /revoke. outcome: "revoked", "invalid_token" or "injected_failure"."""

    token: str
    token_type_hint: str | None
    outcome: str
    token_kind: str | None = None  # "refresh_token" | "access_token" | None when unknown
    email: str | None = None
    client_id: str | None = None
    timestamp: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ConcurrencyGauge:
    """Thread-safe in-flight counters of API requests, per account and per access token."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    current_total: int = 0
    peak_total: int = 0
    current_by_account: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    peak_by_account: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    current_by_token: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    peak_by_token: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def track(self, account: str, token: str) -> Iterator[None]:
        with self._lock:
            self.current_total += 1
            self.peak_total = max(self.peak_total, self.current_total)
            self.current_by_account[account] += 1
            self.peak_by_account[account] = max(
                self.peak_by_account[account], self.current_by_account[account]
            )
            self.current_by_token[token] += 1
            self.peak_by_token[token] = max(self.peak_by_token[token], self.current_by_token[token])
        try:
            yield
        finally:
            with self._lock:
                self.current_total -= 1
                self.current_by_account[account] -= 1
                self.current_by_token[token] -= 1

    def peak(self, account: str | None = None, token: str | None = None) -> int:
        with self._lock:
            if token is not None:
                return self.peak_by_token.get(token, 0)
            if account is not None:
                return self.peak_by_account.get(account, 0)
            return self.peak_total

    def current(self, account: str | None = None, token: str | None = None) -> int:
        with self._lock:
            if token is not None:
                return self.current_by_token.get(token, 0)
            if account is not None:
                return self.current_by_account.get(account, 0)
            return self.current_total

    def reset_peaks(self) -> None:
        """Peaks restart from what is in flight now."""
        with self._lock:
            self.peak_total = self.current_total
            self.peak_by_account = defaultdict(int, {k: v for k, v in self.current_by_account.items() if v})
            self.peak_by_token = defaultdict(int, {k: v for k, v in self.current_by_token.items() if v})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "current": self.current_total,
                "peak": self.peak_total,
                "peak_by_account": dict(self.peak_by_account),
                "current_by_account": {k: v for k, v in self.current_by_account.items() if v},
            }
