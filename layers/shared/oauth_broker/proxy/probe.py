"""`POST /v1/connections/{id}/test`: does the connection still work? One call to the provider's
profile endpoint, answered as `{ok, account, latency_ms, error?}`.

The profile endpoint is the catalog's `profile` (Gmail: users.getProfile; People: people.get of
`me`), called through `ProxyService.forward` (scopes, retries, token refresh, concurrency). When
the connection was not granted a scope that endpoint needs (a `gmail.send`-only connection), the
OIDC userinfo endpoint is asked instead (the `email` scope is always requested). Failures are
answers, not errors: `ok: false` with a stable `error.code` (`needs_reauth`, `revoked`,
`provider_disabled`, `scope_not_granted`, `upstream_error`, `rate_limited`, `upstream_timeout`,
`account_mismatch`, `no_profile_endpoint`, ...). Only a connection the caller may not see is an
error (404).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import BrokerError, ScopeNotGranted, UpstreamError, UpstreamTimeout
from oauth_broker.proxy.service import ProxyRequest, ProxyService, proxy_service
from oauth_broker.proxy.upstream_errors import raise_for_upstream
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.tokens.refresher import ensure_usable

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services
    from oauth_broker.store.models import ConnectionRecord

__all__ = ["ConnectionProbe", "ProbeResult"]

_USERINFO_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: int
    account: dict[str, str] | None = None
    error: dict[str, Any] | None = field(default=None)


def _failure(code: str, detail: str, started: float, **extra: Any) -> ProbeResult:
    error: dict[str, Any] = {"code": code, "detail": detail}
    error.update({k: v for k, v in extra.items() if v is not None})
    return ProbeResult(ok=False, latency_ms=int((time.monotonic() - started) * 1000), error=error)


class ConnectionProbe:
    def __init__(self, services: Services, proxy: ProxyService | None = None):
        self.services = services
        self.proxy = proxy or proxy_service(services)

    def test(self, principal: Principal, connection_id: str, *, deadline: float) -> ProbeResult:
        conn = self.services.connections.get_visible(principal, connection_id)
        if conn.status == ConnectionStatus.PENDING:
            ensure_usable(conn)  # 409 confirmation_required: nothing reaches the provider
        started = time.monotonic()
        if conn.status == ConnectionStatus.REVOKED:
            code = "provider_disabled" if conn.status_reason == "provider_disabled" else "revoked"
            return _failure(code, "the connection is revoked", started)
        try:
            ensure_usable(conn)
            provider = self.proxy.provider_of(conn)
            account = self._account(conn, provider, deadline)
        except BrokerError as err:
            upstream = err.extra.get("upstream_status") is not None
            # The provider's refusal of our fixed profile call is its failure, not the caller's.
            code = "upstream_error" if upstream and err.code != "rate_limited" else err.code
            return _failure(
                code,
                err.detail,
                started,
                upstream_status=err.extra.get("upstream_status"),
                upstream_reason=err.extra.get("upstream_reason"),
            )
        expected = (conn.account_email or "").lower()
        email = (account.get("email") or "").lower()
        if expected and email and email != expected:
            return _failure(
                "account_mismatch",
                "the provider's profile names another account than the one the connection was made with",
                started,
            )
        latency = int((time.monotonic() - started) * 1000)
        return ProbeResult(ok=True, latency_ms=latency, account=account)

    # -- the provider's view of the account ----------------------------------------------------
    def _account(
        self, conn: ConnectionRecord, provider: ProviderDefinition, deadline: float
    ) -> dict[str, str]:
        profile = provider.profile
        if profile is not None:
            path, _, query = profile.path.partition("?")
            request = ProxyRequest.api("GET", path, query=_pairs(query))
            try:
                self.proxy.authorize(conn, provider, request)
            except ScopeNotGranted:
                if not provider.auth.userinfo_url:
                    raise
            else:
                response = self.proxy.forward(conn, provider, request, deadline=deadline)
                raise_for_upstream(response, what="reading the profile")
                email = profile.email_from(response.json())
                return {"email": email} if email else {}
        if provider.auth.userinfo_url:
            return self._userinfo(conn, provider.auth.userinfo_url, deadline)
        raise _NoProfile("the provider defines no profile or userinfo endpoint to test the connection with")

    def _userinfo(self, conn: ConnectionRecord, url: str, deadline: float) -> dict[str, str]:
        import httpx

        refresher = self.proxy.refresher
        token = refresher.get_fresh_token(conn, deadline=deadline).token
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout("no time was left to call the provider")
            try:
                response = self.proxy.http.get(
                    url,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    timeout=httpx.Timeout(min(remaining, _USERINFO_TIMEOUT), connect=min(3.0, remaining)),
                )
            except httpx.TimeoutException:
                raise UpstreamTimeout("the provider's userinfo endpoint did not answer in time") from None
            except httpx.HTTPError:
                raise UpstreamError("the provider's userinfo endpoint could not be reached") from None
            if response.status_code == 401 and attempt == 1:
                token = refresher.get_fresh_token(conn, force=True, deadline=deadline).token
                continue
            if response.status_code != 200:
                raise UpstreamError(
                    f"the provider's userinfo endpoint answered {response.status_code}",
                    upstream_status=response.status_code,
                )
            try:
                claims = response.json()
            except ValueError:
                raise UpstreamError("the provider's userinfo answer is not JSON") from None
            account = {}
            if isinstance(claims, dict):
                for name in ("email", "sub"):
                    if isinstance(claims.get(name), str) and claims[name]:
                        account[name] = claims[name]
            return account
        raise UpstreamError("the provider's userinfo endpoint rejected a fresh access token")


class _NoProfile(BrokerError):
    status, code, title = 400, "no_profile_endpoint", "No profile endpoint"


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def connection_probe(services: Services) -> ConnectionProbe:
    return services.singleton("proxy.probe", lambda: ConnectionProbe(services))
