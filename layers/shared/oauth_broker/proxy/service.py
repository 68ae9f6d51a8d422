"""`ProxyService`: the one way a request reaches a provider's API on a connection's behalf.

Every proxied request, and every typed Gmail and Contacts call, goes through `forward`:

1. the connection, visible to the caller (`ConnectionStore.get_visible`: one GetItem) and usable
   (`tokens.refresher.ensure_usable`: `needs_reauth` -> 409 with the re-authorization hint, revoked
   by a disabled provider -> 403 `provider_disabled`, otherwise revoked -> 404);
2. the path (`paths.check_path`: 400 `invalid_path`), the method (the provider's scope table:
   400 `unknown_method` when the path and method match no method of the API), the scopes (403
   `scope_not_granted`, naming the scopes that would allow it) and Google's delegated-access rule
   (`users/{userId}`, `people/{resourceName}` must be `me`: 403 `forbidden`), all before anything
   leaves the broker;
3. the access token from the `TokenRefresher` (its in-memory cache on a warm container: no KMS);
4. a slot of the connection's concurrency semaphore when it has a level (429 `rate_limited`);
5. the request, with clean headers, on the process's pooled httpx client, timeouts cut to the
   function's remaining time; a 401 gets one forced refresh and one retry; 429, 5xx and Google's
   rate-limit 403s are retried with backoff while time remains (`retry.RetryPolicy`); then the
   provider's answer is passed through.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

from oauth_broker.errors import (
    BrokerError,
    Forbidden,
    NotFound,
    ProviderDisabled,
    ProxyNotSupported,
    ResponseTooLarge,
    ScopeNotGranted,
    UnknownMethod,
    UpstreamError,
    UpstreamTimeout,
)
from oauth_broker.observability import logger, metric, status_class
from oauth_broker.proxy.headers import forward_headers, response_headers
from oauth_broker.proxy.paths import ProxyTarget, check_path
from oauth_broker.proxy.payload import MAX_RESPONSE_BODY_BYTES
from oauth_broker.proxy.retry import RetryPolicy, parse_retry_after
from oauth_broker.proxy.semaphore import ConcurrencySemaphore, SlotLease
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.refresher import ensure_usable

if TYPE_CHECKING:
    import httpx

    from oauth_broker.auth.principal import Principal
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.providers.scopes import MatchedMethod, MethodScopeTable
    from oauth_broker.services import Services

__all__ = [
    "AccessTokenLike",
    "ProxyRequest",
    "ProxyService",
    "TokenSource",
    "UpstreamResponse",
    "proxy_service",
]

# Per attempt: connecting never waits longer than this, reading never longer than the time left.
_CONNECT_TIMEOUT = 3.0
# A lease outlives the invocation by this much, so a live holder never loses its slot.
_LEASE_MARGIN_SECONDS = 5.0
_LENDER_CACHE_SECONDS = 30.0
_LENDER_CACHE_SIZE = 1024
_READ_CHUNK = 64 * 1024


class AccessTokenLike(Protocol):
    """What `tokens.refresher.AccessToken` carries."""

    @property
    def token(self) -> str: ...

    @property
    def expires_at(self) -> int: ...

    @property
    def scopes(self) -> tuple[str, ...]: ...


class TokenSource(Protocol):
    """What `tokens.refresher.TokenRefresher` offers the proxy."""

    def get_fresh_token(
        self,
        conn: ConnectionRecord,
        *,
        force: bool = False,
        deadline: float | None = None,
        note_use: bool = True,
    ) -> AccessTokenLike: ...


@dataclass(frozen=True)
class ProxyRequest:
    """A request for the provider's API. `path` is relative to the API base URL as the caller sent
    it (percent-encoding kept); `decoded_path` is API Gateway's decoded `{path+}`, checked too."""

    method: str
    path: str | None
    decoded_path: str | None = None
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def api(
        cls,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        json_body: Any = None,
    ) -> ProxyRequest:
        """A request built by the broker itself (typed routes): JSON in, gzip accepted."""
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        headers = {"accept": "application/json", "accept-encoding": "gzip"}
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        return cls(
            method=method, path=path, query=urlencode(pairs, quote_via=quote), headers=headers, body=body
        )


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's answer: status, its content headers (canonical names) and the body as the
    provider encoded it."""

    status: int
    headers: dict[str, str]
    body: bytes
    attempts: int = 1
    method_id: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def content(self) -> bytes:
        """The body with its `Content-Encoding` (gzip, deflate) undone."""
        encoding = (self.header("Content-Encoding") or "identity").strip().lower()
        if encoding in ("", "identity"):
            return self.body
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(self.body)
        if encoding == "deflate":
            try:
                return zlib.decompress(self.body)
            except zlib.error:
                return zlib.decompress(self.body, -zlib.MAX_WBITS)
        raise UpstreamError(f"the provider answered with an unsupported Content-Encoding {encoding!r}")

    def json(self) -> Any:
        """The body as JSON; `UpstreamError` when it is not."""
        try:
            return json.loads(self.content() or b"null")
        except (ValueError, UnicodeDecodeError, OSError, EOFError, zlib.error):
            raise UpstreamError("the provider's answer is not valid JSON") from None


@dataclass
class _Lender:
    expires: float
    record: ConnectionRecord | None


class ProxyService:
    def __init__(
        self,
        services: Services,
        *,
        refresher: TokenSource | None = None,
        semaphore: ConcurrencySemaphore | None = None,
        policy: RetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
        method_table: MethodScopeTable | None = None,
        http: httpx.Client | None = None,
    ):
        self.services = services
        self._refresher = refresher
        self.semaphore = semaphore or ConcurrencySemaphore(services.table, clock=clock)
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = rng
        self._method_table = method_table
        self._http = http
        self._lenders: dict[str, _Lender] = {}
        self._lenders_lock = threading.Lock()

    # -- collaborators (resolved on first use: a cold start pays only for what it uses) --------
    @property
    def refresher(self) -> TokenSource:
        if self._refresher is None:
            from oauth_broker.tokens.refresher import token_refresher

            self._refresher = token_refresher(self.services)
        return self._refresher

    @property
    def method_table(self) -> MethodScopeTable:
        if self._method_table is None:
            from oauth_broker.providers.scopes import MethodScopeTable

            self._method_table = MethodScopeTable.load()
        return self._method_table

    @property
    def http(self) -> httpx.Client:
        # The shared client keeps no cookies (clients.http_client): one user's Set-Cookie never
        # rides on another user's call.
        return self._http or self.services.http

    # -- the connection ------------------------------------------------------------------------
    def open(self, principal: Principal, connection_id: str) -> tuple[ConnectionRecord, ProviderDefinition]:
        """The caller's connection (404 for one it may not see), usable, and its provider."""
        conn = self.services.connections.get_visible(principal, connection_id)
        ensure_usable(conn)
        return conn, self.provider_of(conn)

    def provider_of(self, conn: ConnectionRecord) -> ProviderDefinition:
        """The connection's provider: a built-in one costs no read; a tenant's custom one is cached."""
        from oauth_broker.providers.registry import provider_registry

        try:
            provider = provider_registry(self.services).definition(conn.tenant, conn.provider)
        except NotFound:
            raise ProviderDisabled(
                f"the connection's provider {conn.provider!r} is not available", connection_id=conn.id
            ) from None
        if provider.api is None:
            raise ProxyNotSupported(f"provider {conn.provider!r} defines no API base URL to proxy to")
        return provider

    # -- checks before anything leaves the broker ----------------------------------------------
    def authorize(
        self, conn: ConnectionRecord, provider: ProviderDefinition, request: ProxyRequest
    ) -> tuple[ProxyTarget, MatchedMethod | None]:
        """The request's target and API method, or the 4xx that refuses it."""
        api = provider.api
        if api is None:
            raise ProxyNotSupported(f"provider {provider.key!r} defines no API base URL to proxy to")
        target = check_path(api, request.path, request.decoded_path)
        matched: MatchedMethod | None = None
        if api.scope_table:
            method = "GET" if request.method.upper() == "HEAD" else request.method.upper()
            matched = self.method_table.match(target.decoded, method, api=api.scope_table)
            if matched is None:
                raise UnknownMethod(
                    f"{request.method.upper()} {target.decoded} is not a method of the "
                    f"{api.scope_table} API this broker knows; it is not forwarded",
                )
            if not provider.grants_any(conn.scopes_granted, matched.scopes):
                needed = sorted(matched.scopes)
                raise ScopeNotGranted(
                    f"{matched.id} needs one of these scopes, and the connection has none of them: "
                    + ", ".join(needed),
                    method=matched.id,
                    required_scopes=needed,
                    connection_id=conn.id,
                )
        rule = api.me_rule_violation(target.decoded)
        if rule is not None:
            raise Forbidden(
                f"delegated access only: the segment after '{rule.after}/' must be '{rule.value}'",
                rule=f"{rule.after}/{{...}} must be {rule.value}",
            )
        return target, matched

    # -- forwarding ------------------------------------------------------------------------------
    def call(
        self, principal: Principal, connection_id: str, request: ProxyRequest, *, deadline: float
    ) -> UpstreamResponse:
        conn, provider = self.open(principal, connection_id)
        return self.forward(conn, provider, request, deadline=deadline)

    def forward(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        request: ProxyRequest,
        *,
        deadline: float,
        background: bool = False,
    ) -> UpstreamResponse:
        """Sends `request` for `conn` (see the module docstring); `deadline` is on `clock.monotonic()`.
        `background`: the broker's own call (Gmail push's history reads and watch renewals), not the
        tenant's use of the connection: it is not recorded as a use, so a watched but otherwise
        idle connection keeps its daily liveness refresh rather than hourly refreshes ahead."""
        target, matched = self.authorize(conn, provider, request)
        token = self.refresher.get_fresh_token(conn, deadline=deadline, note_use=not background).token
        lease = self._acquire_slot(conn, deadline)
        try:
            return self._send(conn, request, target, matched, token, deadline, note_use=not background)
        finally:
            if lease is not None:
                self.semaphore.release(lease)

    # -- concurrency ----------------------------------------------------------------------------
    def concurrency_limit(self, conn: ConnectionRecord) -> tuple[str, int] | None:
        """(semaphore owner, level): the lender's when the connection borrows, else its own."""
        if conn.borrow_concurrency_from and conn.borrow_concurrency_from != conn.id:
            lender = self._lender(conn.borrow_concurrency_from)
            if lender is not None and lender.tenant == conn.tenant:
                return (lender.id, lender.concurrency_level) if lender.concurrency_level else None
            logger.warning("concurrency lender not found; using the connection's own level")
        if conn.concurrency_level:
            return conn.id, conn.concurrency_level
        return None

    def _lender(self, lender_id: str) -> ConnectionRecord | None:
        now = self.clock.monotonic()
        with self._lenders_lock:
            cached = self._lenders.get(lender_id)
            if cached is not None and cached.expires > now:
                return cached.record
        record = self.services.connections.get(lender_id) if lender_id.startswith("con_") else None
        with self._lenders_lock:
            if len(self._lenders) >= _LENDER_CACHE_SIZE:
                self._lenders.clear()
            self._lenders[lender_id] = _Lender(now + _LENDER_CACHE_SECONDS, record)
        return record

    def _acquire_slot(self, conn: ConnectionRecord, deadline: float) -> SlotLease | None:
        limit = self.concurrency_limit(conn)
        if limit is None:
            return None
        owner, level = limit
        lease_seconds = max(0.0, deadline - self.clock.monotonic()) + _LEASE_MARGIN_SECONDS
        return self.semaphore.acquire(owner, level, lease_seconds=lease_seconds)

    # -- HTTP ----------------------------------------------------------------------------------
    def _send(
        self,
        conn: ConnectionRecord,
        request: ProxyRequest,
        target: ProxyTarget,
        matched: MatchedMethod | None,
        token: str,
        deadline: float,
        *,
        note_use: bool = True,
    ) -> UpstreamResponse:
        url = target.url + (f"?{request.query}" if request.query else "")
        method = request.method.upper()
        method_id = matched.id if matched else None
        attempts = retries = 0
        refreshed = False
        while True:
            attempts += 1
            started = self.clock.monotonic()
            try:
                status, headers, body = self._send_once(method, url, request, token, deadline)
            except _TransportFailure as failure:
                _upstream_metrics("network", started, self.clock.monotonic())
                if failure.retryable and self._wait_before_retry(retries, None, deadline, attempts):
                    retries += 1
                    metric("upstream_retries")
                    continue
                raise failure.error from None
            _upstream_metrics(status_class(status), started, self.clock.monotonic())
            if status == 401 and not refreshed:
                # One forced refresh, one retry: the token may have been revoked or rotated early.
                refreshed = True
                token = self.refresher.get_fresh_token(
                    conn, force=True, deadline=deadline, note_use=note_use
                ).token
                continue
            lowered = {k.lower(): v for k, v in headers}
            if self.policy.is_retryable(status, lowered, body):
                retry_after = parse_retry_after(lowered.get("retry-after"), now=self.clock.time())
                if self._wait_before_retry(retries, retry_after, deadline, attempts):
                    logger.info(
                        "retrying a provider request",
                        extra={"method_id": method_id, "status": status, "attempt": attempts},
                    )
                    retries += 1
                    metric("upstream_retries")
                    continue
            return UpstreamResponse(status, response_headers(headers), body, attempts, method_id)

    def _wait_before_retry(
        self, retries: int, retry_after: float | None, deadline: float, attempts: int
    ) -> bool:
        if attempts >= self.policy.max_attempts:
            return False
        delay = self.policy.delay(retries, retry_after=retry_after, rng=self.rng)
        if self.clock.monotonic() + delay + self.policy.min_attempt_seconds > deadline:
            return False
        self.clock.sleep(delay)
        return True

    def _send_once(
        self, method: str, url: str, request: ProxyRequest, token: str, deadline: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        import httpx

        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            raise _TransportFailure(UpstreamTimeout("no time was left to call the provider"), retryable=False)
        timeout = httpx.Timeout(remaining, connect=min(_CONNECT_TIMEOUT, remaining))
        # A plain Request, not `client.build_request`: nothing of the shared client's state (its
        # cookie jar above all) may ride along on a request made for one user's connection.
        outgoing = httpx.Request(
            method,
            url,
            headers=forward_headers(request.headers, access_token=token),
            content=request.body or None,
            extensions={"timeout": timeout.as_dict()},
        )
        try:
            response = self.http.send(outgoing, stream=True)
        except httpx.ConnectTimeout:
            raise _TransportFailure(
                UpstreamTimeout("connecting to the provider timed out"), retryable=True
            ) from None
        except httpx.TimeoutException:
            raise _TransportFailure(
                UpstreamTimeout("the provider did not answer in time"), retryable=False
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError):
            raise _TransportFailure(
                UpstreamError("the provider could not be reached"), retryable=True
            ) from None
        except httpx.HTTPError:
            raise _TransportFailure(
                UpstreamError("the request to the provider failed"), retryable=False
            ) from None
        try:
            body = self._read_capped(response)
        except httpx.TimeoutException:
            raise _TransportFailure(
                UpstreamTimeout("the provider's answer did not arrive in time"), retryable=False
            ) from None
        except httpx.HTTPError:
            raise _TransportFailure(
                UpstreamError("the provider's answer was cut off"), retryable=False
            ) from None
        finally:
            response.close()
        return response.status_code, list(response.headers.multi_items()), body

    @staticmethod
    def _read_capped(response: httpx.Response) -> bytes:
        if response.is_stream_consumed:  # an in-memory response (an injected transport): already read
            if len(response.content) > MAX_RESPONSE_BODY_BYTES:
                raise _too_large()
            return response.content
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw(_READ_CHUNK):
            size += len(chunk)
            if size > MAX_RESPONSE_BODY_BYTES:
                raise _too_large()
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large() -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the provider's response is larger than {MAX_RESPONSE_BODY_BYTES} bytes, more than a Lambda "
        "response can carry; ask for less (fields, maxResults, pageSize)"
    )


class _TransportFailure(Exception):
    def __init__(self, error: BrokerError, *, retryable: bool):
        super().__init__(error.detail)
        self.error = error
        self.retryable = retryable


def _upstream_metrics(cls: str, started: float, ended: float) -> None:
    """One call to the provider: its status class (`network`: no answer) and time."""
    metric("upstream_requests", status_class=cls)
    metric("upstream_latency", (ended - started) * 1000.0, status_class=cls)
    metric("upstream_server_error", 1 if cls in ("5xx", "network") else 0)


def proxy_service(services: Services) -> ProxyService:
    """The process's `ProxyService` (one per `Services`)."""
    return services.singleton("proxy.service", lambda: ProxyService(services))
