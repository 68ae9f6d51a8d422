"""/v1/providers: the tenant's provider catalog (built-in and custom), enable/disable, custom providers."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker import audit
from oauth_broker.errors import Conflict
from oauth_broker.http.audited import audited
from oauth_broker.http.resolver import current_principal, new_router, require_admin_write
from oauth_broker.providers.registry import TenantProvider, provider_registry
from oauth_broker.services import get_services

router = new_router()


class ScopeOut(BaseModel):
    scope: str
    short_name: str | None
    sensitivity: str = Field(description="Google's class: non_sensitive, sensitive or restricted")
    description: str
    base: bool = Field(description="always requested (the provider's base scopes, e.g. openid email profile)")


class ProviderOut(BaseModel):
    key: str
    display_name: str
    enabled: bool
    custom: bool
    oidc: bool
    scopes: list[ScopeOut]
    default_scopes: list[str]
    api_base_url: str | None

    @classmethod
    def of(cls, p: TenantProvider) -> ProviderOut:
        d = p.definition
        base = {info.scope for info in d.base_scopes}
        return cls(
            key=d.key,
            display_name=d.display_name,
            enabled=p.enabled,
            custom=p.custom,
            oidc=d.auth.oidc,
            scopes=[
                ScopeOut(
                    scope=info.scope,
                    short_name=info.short_name,
                    sensitivity=info.sensitivity.value,
                    description=info.description,
                    base=info.scope in base,
                )
                for info in d.all_scopes
            ],
            default_scopes=list(d.default_scopes),
            api_base_url=d.api.base_url if d.api else None,
        )


class ProviderList(BaseModel):
    data: list[ProviderOut]
    next_cursor: str | None = None


class ProviderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


@router.get("/v1/providers", summary="List the tenant's providers", tags=["providers"])
def list_providers() -> ProviderList:
    principal = current_principal(router)
    providers = provider_registry(get_services()).list(principal.tenant)
    return ProviderList(data=[ProviderOut.of(p) for p in providers])


@router.patch(
    "/v1/providers/<key>",
    summary="Enable or disable a provider for the tenant",
    description="Disabling cuts every connection of the provider in the tenant: each becomes "
    "`revoked` with `status_reason` `provider_disabled` (and a `connection.revoked` event). "
    "Re-enabling restores them. A tenant's first 100 connections are switched before the answer "
    "(200); a bigger tenant's rest is switched through the broker's work queue within moments "
    "(202, same body). Idempotent: repeat it to finish an interrupted switch.",
    tags=["providers"],
    middlewares=[audited("provider.updated", resource="provider", id_param="key")],
    responses={
        200: {
            "description": "the provider's new state; every connection switched",
            "content": {"application/json": {"model": ProviderOut}},
        },
        202: {
            "description": "the provider's new state; the rest of its connections are being switched "
            "through the work queue",
            "content": {"application/json": {"model": ProviderOut}},
        },
    },
)
def patch_provider(key: str, body: ProviderPatch) -> Response[ProviderOut]:
    from oauth_broker.connect.provider_switch import (
        disable_provider_connections,
        restore_provider_connections,
    )

    audit.note(action="provider.enabled" if body.enabled else "provider.disabled", enabled=body.enabled)
    principal = require_admin_write(router)
    services = get_services()
    provider = provider_registry(services).set_enabled(principal.tenant, key, body.enabled)
    switch = disable_provider_connections if not body.enabled else restore_provider_connections
    report = switch(services, principal.tenant, key)
    audit.note(switched=report.changed, queued=bool(report.queued))
    if report.failed:
        raise Conflict(
            f"{report.failed} connection(s) changed concurrently and were not switched; repeat the request"
        )
    return Response(
        status_code=202 if report.queued else 200,
        content_type="application/json",
        body=ProviderOut.of(provider),
    )


@router.post(
    "/v1/providers",
    summary="Register a custom OAuth 2.0 / OIDC provider",
    description="The body is a provider definition in the catalog's schema (`key`, `display_name`, "
    "`auth` {authorization_url, token_url, revocation_url, userinfo_url, or `issuer` with `oidc: true` "
    "for OIDC discovery, ...}, `api` {base_url, ...}, `scopes`, `default_scopes`, optional `extends`), "
    "plus an optional `enabled` (default true).",
    tags=["providers"],
    status_code=201,
    middlewares=[audited("provider.registered", resource="provider")],
)
def create_provider(body: Annotated[dict[str, Any], Body()]) -> Response[ProviderOut]:
    principal = require_admin_write(router)
    data = dict(body)
    enabled = data.pop("enabled", True)
    if not isinstance(enabled, bool):
        from oauth_broker.errors import ValidationFailed

        raise ValidationFailed(
            "invalid: enabled",
            errors=[{"loc": ["body", "enabled"], "msg": "must be a boolean", "type": "bool_type"}],
        )
    provider = provider_registry(get_services()).register_custom(principal.tenant, data, enabled=enabled)
    audit.note(resource_id=provider.key, custom=True, enabled=provider.enabled)
    return Response(
        status_code=201,
        content_type="application/json",
        body=ProviderOut.of(provider),
        headers={"Location": f"/v1/providers/{provider.key}"},
    )
