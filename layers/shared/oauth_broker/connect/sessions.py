"""Connect sessions: a single-use, 10-minute ticket that lets a browser start one OAuth flow for
one user of one tenant (`POST /v1/connect-sessions`, consumed by `GET /v1/oauth/authorize`).

The token (`cs_` + 256 random bits) is returned once; the table keeps only its SHA-256.
Everything the flow needs is checked here, at creation, where the caller can get a problem
document back: the provider (enabled for the tenant), the OAuth client (the tenant's, of that
provider), the scopes (in the provider's catalog; short names accepted; base scopes added),
`prompt`, `login_hint`, `return_to` (required, on the tenant's allow-list: the result and its
confirmation go only there), `mode` and the connection to re-authorize (the caller's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from oauth_broker.auth.principal import Principal
from oauth_broker.connect.return_to import ReturnToRefused, check_return_to
from oauth_broker.connect.urls import authorize_url
from oauth_broker.errors import NotFound, ProviderDisabled, ValidationFailed
from oauth_broker.ids import random_token, sha256_hex
from oauth_broker.providers.catalog import ProviderDefinition, UnknownScope
from oauth_broker.providers.registry import provider_registry
from oauth_broker.store.sessions import SESSION_TTL_SECONDS, ConnectSessionRecord, ConnectSessionStore
from oauth_broker.timeutil import now_epoch, rfc3339

SESSION_TOKEN_PREFIX = "cs"
PROMPT_VALUES = ("none", "consent", "select_account")
MAX_SCOPES = 50


@dataclass(frozen=True)
class ConnectSessionRequest:
    provider: str
    oauth_client_id: str
    name: str | None = None
    scopes: list[str] = field(default_factory=list)
    prompt: str | None = None
    login_hint: str | None = None
    return_to: str | None = None
    mode: Literal["popup", "redirect"] = "popup"
    connection_id: str | None = None


@dataclass(frozen=True)
class CreatedSession:
    token: str
    authorize_url: str
    expires_at: int

    def __repr__(self) -> str:  # the token is a bearer secret
        return f"CreatedSession(expires_at={self.expires_at})"


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid: {field_name}: {message}",
        errors=[{"loc": ["body", field_name], "msg": message, "type": "value_error"}],
    )


def normalize_prompt(value: str | None) -> str | None:
    """A space-separated subset of `none consent select_account` (`none` alone), deduplicated."""
    if value is None or not value.strip():
        return None
    parts = list(dict.fromkeys(value.split()))
    unknown = [p for p in parts if p not in PROMPT_VALUES]
    if unknown:
        raise _invalid("prompt", "must be a space-separated subset of: none consent select_account")
    if "none" in parts and len(parts) > 1:
        raise _invalid("prompt", "'none' cannot be combined with other values")
    return " ".join(parts)


def resolve_scopes(provider: ProviderDefinition, scopes: list[str], fallback: list[str]) -> list[str]:
    """Full scope strings (base scopes first); the fallback (or the provider's defaults) when empty."""
    wanted = scopes or fallback or list(provider.default_scopes)
    if len(wanted) > MAX_SCOPES:
        raise _invalid("scopes", f"at most {MAX_SCOPES} scopes")
    try:
        resolved = provider.normalize_scopes(wanted)
    except UnknownScope as exc:
        raise _invalid("scopes", "not in the provider's catalog: " + ", ".join(exc.scopes)) from None
    if not resolved:
        raise _invalid("scopes", "name at least one scope")
    return resolved


def create_connect_session(
    services: Any, principal: Principal, request: ConnectSessionRequest, *, domain_name: str | None
) -> CreatedSession:
    tenant = principal.tenant
    if not request.return_to:
        # the result and its confirmation go only to the app that started the flow
        raise _invalid("return_to", "required: the app origin or URL that receives the result")
    prompt = normalize_prompt(request.prompt)
    if request.login_hint is not None and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request.login_hint):
        raise _invalid("login_hint", "must not contain control characters")

    origins = services.settings.get(tenant).allowed_return_origins
    try:
        return_to = check_return_to(request.return_to, origins)
    except ReturnToRefused as exc:
        raise _invalid("return_to", str(exc)) from None

    registry = provider_registry(services)
    try:
        provider = registry.get(tenant, request.provider)
    except NotFound:
        raise _invalid("provider", f"unknown provider {request.provider!r}") from None
    if not provider.enabled:
        raise ProviderDisabled(f"provider {request.provider} is disabled for this tenant")
    definition = provider.definition

    client = services.oauth_clients.get(tenant, request.oauth_client_id)  # NotFound -> 404
    if client.provider != definition.key:
        raise _invalid("oauth_client_id", f"the OAuth client is for provider {client.provider!r}")

    fallback: list[str] = []
    if request.connection_id is not None:
        conn = (
            services.connections.get(request.connection_id)
            if request.connection_id.startswith("con_")
            else None
        )
        if conn is None or conn.tenant != tenant or conn.owner != principal.user:
            raise NotFound(f"connection {request.connection_id} not found")
        if conn.provider != definition.key:
            raise _invalid("provider", f"the connection is a {conn.provider!r} connection")
        if conn.oauth_client_id != client.id:
            raise _invalid("oauth_client_id", "must be the OAuth client of the connection")
        fallback = list(conn.scopes_requested)
    scopes = resolve_scopes(definition, list(request.scopes), fallback)

    token = random_token(SESSION_TOKEN_PREFIX)
    now = now_epoch()
    expires_at = now + SESSION_TTL_SECONDS
    record = ConnectSessionRecord(
        tenant=tenant,
        user=principal.user,
        provider=definition.key,
        oauth_client_id=client.id,
        name=request.name,
        scopes=scopes,
        prompt=prompt,
        login_hint=request.login_hint or None,
        return_to=return_to,
        mode=request.mode,
        connection_id=request.connection_id,
        created_at=rfc3339(now),
        expires_at=expires_at,
    )
    session_store(services).create(sha256_hex(token), record)
    return CreatedSession(
        token=token,
        authorize_url=authorize_url(services.config, domain_name, token),
        expires_at=expires_at,
    )


def session_store(services: Any) -> ConnectSessionStore:
    return services.singleton(  # type: ignore[no-any-return]
        "connect_session_store", lambda: ConnectSessionStore(services.table)
    )
