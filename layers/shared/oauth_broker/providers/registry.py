"""The providers a tenant sees: the deployment's catalog plus the tenant's custom providers, each
enabled or disabled for the tenant.

State lives in `TENANT#{t}` / `PROVIDER#{key}` items (`store.providers`). A built-in provider
without an item is enabled. Custom providers (`POST /v1/providers`) are validated with
`ProviderCatalog.validate_custom`; when only an OIDC issuer is given, its discovery document is
fetched once, at registration, so the authorize and callback functions never fetch it.

Reads are cheap where it matters: `definition()` of a built-in provider costs no DynamoDB read,
and a custom provider's parsed definition is cached per process (definitions never change after
registration). `require_enabled()` always reads the state item (one GetItem): it is called when a
connect session is created and while the flow runs, never on the proxy's path (disabling a
provider marks its connections revoked, and the proxy reads only the connection).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import NotFound, ProviderDisabled, ValidationFailed
from oauth_broker.providers.catalog import (
    FieldIssue,
    ProviderCatalog,
    ProviderDefinition,
    ProviderValidationError,
    endpoint_claims,
)
from oauth_broker.store.providers import TenantProviderRecord, TenantProviderStore

if TYPE_CHECKING:
    import httpx

    from oauth_broker.outbound import OutboundGuard
    from oauth_broker.store.table import Table

CUSTOM_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class TenantProvider:
    """A provider as one tenant sees it."""

    definition: ProviderDefinition
    enabled: bool
    custom: bool

    @property
    def key(self) -> str:
        return self.definition.key


def validation_problem(
    exc: ProviderValidationError, *, prefix: tuple[str, ...] = ("body",)
) -> ValidationFailed:
    """A catalog validation error as a 422 problem listing every bad field."""
    errors = []
    for issue in exc.issues:
        loc = [
            *prefix,
            *[part for part in issue.location.replace("[", ".").replace("]", "").split(".") if part],
        ]
        errors.append({"loc": loc, "msg": issue.message, "type": "value_error"})
    fields = ", ".join(issue.location or "body" for issue in exc.issues)
    return ValidationFailed(f"invalid provider definition: {fields}", errors=errors)


class ProviderRegistry:
    def __init__(
        self,
        catalog: ProviderCatalog,
        table: Table,
        *,
        http: httpx.Client | None = None,
        allow_loopback: bool = False,
        guard: OutboundGuard | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        from oauth_broker.outbound import OutboundGuard

        self.catalog = catalog
        self.store = TenantProviderStore(table)
        self._http = http
        self.allow_loopback = allow_loopback
        # the outbound URL guard (SSRF) every URL the broker will call is checked with
        self.guard = guard or OutboundGuard(allow_loopback=allow_loopback)
        self._clock = clock
        self._lock = threading.Lock()
        # (tenant, key) -> (cached at, definition JSON, parsed definition)
        self._custom: dict[tuple[str, str], tuple[float, str, ProviderDefinition]] = {}

    # -- reads -------------------------------------------------------------------------------
    def _builtin(self, key: str) -> ProviderDefinition | None:
        if key in self.catalog:
            definition = self.catalog.get(key)
            return definition if definition.connectable else None
        return None

    def _parse_custom(self, record: TenantProviderRecord) -> ProviderDefinition:
        cache_key = (record.tenant, record.key)
        with self._lock:
            hit = self._custom.get(cache_key)
            if hit is not None and hit[1] == record.definition_json:
                self._custom[cache_key] = (self._clock(), hit[1], hit[2])  # confirmed by this read
                return hit[2]
        definition = ProviderDefinition.validate_definition(
            record.definition(), allow_loopback=self.allow_loopback
        )
        with self._lock:
            self._custom[cache_key] = (self._clock(), record.definition_json or "", definition)
        return definition

    def _resolve(self, tenant: str, key: str, record: TenantProviderRecord | None) -> TenantProvider | None:
        builtin = self._builtin(key)
        if builtin is not None:
            return TenantProvider(builtin, enabled=record.enabled if record else True, custom=False)
        if record is not None and record.custom:
            return TenantProvider(self._parse_custom(record), enabled=record.enabled, custom=True)
        return None

    def get(self, tenant: str, key: str) -> TenantProvider:
        """The provider with its state for the tenant (one read); NotFound if the tenant has none."""
        if key in self.catalog and self._builtin(key) is None:
            raise NotFound(f"provider {key} not found")  # an abstract base, not connectable
        provider = self._resolve(tenant, key, self.store.get(tenant, key))
        if provider is None:
            raise NotFound(f"provider {key} not found")
        return provider

    def list(self, tenant: str) -> list[TenantProvider]:
        """Built-in connectable providers (catalog order), then the tenant's custom ones (by key)."""
        records = {r.key: r for r in self.store.list(tenant)}
        out: list[TenantProvider] = []
        for definition in self.catalog.connectable():
            record = records.get(definition.key)
            out.append(TenantProvider(definition, enabled=record.enabled if record else True, custom=False))
        for key in sorted(records):
            record = records[key]
            if record.custom and self._builtin(key) is None:
                out.append(TenantProvider(self._parse_custom(record), enabled=record.enabled, custom=True))
        return out

    def definition(self, tenant: str, key: str) -> ProviderDefinition:
        """The provider's definition, enabled or not: no read for a built-in provider, and a custom
        provider's is cached for a few minutes. NotFound if the tenant has no such provider."""
        builtin = self._builtin(key)
        if builtin is not None:
            return builtin
        with self._lock:
            hit = self._custom.get((tenant, key))
        if hit is not None and self._clock() - hit[0] < CUSTOM_CACHE_SECONDS:
            return hit[2]
        return self.get(tenant, key).definition

    def require_enabled(self, tenant: str, key: str) -> ProviderDefinition:
        """The definition if the provider is enabled for the tenant (one read); NotFound or
        ProviderDisabled otherwise."""
        provider = self.get(tenant, key)
        if not provider.enabled:
            raise ProviderDisabled(f"provider {key} is disabled for this tenant")
        return provider.definition

    # -- writes ------------------------------------------------------------------------------
    def set_enabled(self, tenant: str, key: str, enabled: bool) -> TenantProvider:
        provider = self.get(tenant, key)
        record = self.store.set_enabled(tenant, key, enabled)
        return TenantProvider(provider.definition, enabled=record.enabled, custom=provider.custom)

    def register_custom(
        self, tenant: str, data: Mapping[str, Any], *, enabled: bool = True
    ) -> TenantProvider:
        """Validates, completes from OIDC discovery when needed, and stores a custom provider.

        Raises ValidationFailed (422, every bad field listed) or Conflict (409: the key exists).
        """
        try:
            definition = self.catalog.validate_custom(data)
        except ProviderValidationError as exc:
            raise validation_problem(exc) from None
        self._refuse_claims(tenant, definition)  # before discovery: no fetch for a claimed issuer
        self._refuse_unsafe_urls(definition)  # and none to a forbidden address
        if definition.auth.needs_discovery:
            definition = self._discover(definition)
        existing = self.store.get(tenant, definition.key)
        if existing is not None:
            from oauth_broker.errors import Conflict

            raise Conflict(f"provider {definition.key} already exists in this tenant")
        self._refuse_claims(tenant, definition)  # and what discovery filled in
        self._refuse_unsafe_urls(definition)
        self.store.create_custom(tenant, definition.key, definition.model_dump(mode="json"), enabled=enabled)
        return TenantProvider(definition, enabled=enabled, custom=True)

    def _refuse_claims(self, tenant: str, definition: ProviderDefinition) -> None:
        """422 when the definition claims the issuer, authorization or token endpoint of a
        built-in provider or of another custom provider of the tenant (`endpoint_claims`)."""
        others = [*self.catalog.all(), *(p.definition for p in self.list(tenant) if p.custom)]
        extends = definition.extends
        base = self.catalog.get(extends) if extends is not None and extends in self.catalog else None
        claims = endpoint_claims(definition, others, base=base)
        if claims:
            raise validation_problem(ProviderValidationError(claims))

    def _refuse_unsafe_urls(self, definition: ProviderDefinition) -> None:
        """422 naming each URL the broker would call that the outbound guard refuses (https, no IP
        literal, no host resolving to a loopback, private, link-local or reserved address). The
        authorization URL is only ever opened by the user's browser, never by the broker."""
        from oauth_broker.outbound import OutboundUrlRefused

        auth, api = definition.auth, definition.api
        urls: list[tuple[str, str | None]] = [
            ("auth.issuer", auth.discovery_url if auth.needs_discovery else None),
            ("auth.token_url", auth.token_url),
            ("auth.revocation_url", auth.revocation_url),
            ("auth.userinfo_url", auth.userinfo_url),
            ("auth.jwks_url", auth.jwks_url),
            ("api.base_url", api.base_url if api else None),
            *[(f"api.hosts[{i}]", f"https://{host}/") for i, host in enumerate(api.hosts if api else ())],
        ]
        issues = []
        for location, url in urls:
            if url is None:
                continue
            try:
                self.guard.check_url(url)
            except OutboundUrlRefused as exc:
                issues.append(FieldIssue(location, f"not allowed: {exc}"))
        if issues:
            raise validation_problem(ProviderValidationError(issues))

    def _discover(self, definition: ProviderDefinition) -> ProviderDefinition:
        from oauth_broker.oauth.discovery import DiscoveryError, fetch_openid_configuration

        url = definition.auth.discovery_url
        if url is None or self._http is None:
            raise validation_problem(
                ProviderValidationError([FieldIssue("auth.issuer", "OIDC discovery is not available")])
            )
        try:
            metadata = fetch_openid_configuration(self._http, url, guard=self.guard)
            return definition.with_discovery(metadata, allow_loopback=self.allow_loopback)
        except DiscoveryError as exc:
            raise validation_problem(
                ProviderValidationError([FieldIssue("auth.issuer", f"OIDC discovery failed: {exc}")])
            ) from None
        except ProviderValidationError as exc:
            issues = [FieldIssue(i.location, f"{i.message} (from OIDC discovery)") for i in exc.issues]
            raise validation_problem(ProviderValidationError(issues)) from None


def provider_registry(services: Any) -> ProviderRegistry:
    """The process's registry (one per Services)."""
    return services.singleton(  # type: ignore[no-any-return]
        "provider_registry",
        lambda: ProviderRegistry(
            services.catalog,
            services.table,
            http=services.http,
            allow_loopback=services.config.allow_loopback_urls,
            guard=services.outbound,
        ),
    )
