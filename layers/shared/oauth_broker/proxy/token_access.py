"""`GET /v1/connections/{id}/token`: the connection's access token itself, for callers that must
talk to the provider directly. Off by default: only when the tenant setting
`expose_access_tokens` is on (403 `token_exposure_disabled` otherwise). The caller must be able to
see the connection first (404 otherwise, so ids don't leak). Every exposure is logged (connection,
tenant, caller), never the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oauth_broker.errors import TokenExposureDisabled
from oauth_broker.observability import logger
from oauth_broker.proxy.service import proxy_service
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.refresher import ensure_usable

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.services import Services

__all__ = ["ExposedToken", "expose_access_token"]


@dataclass(frozen=True)
class ExposedToken:
    access_token: str = field(repr=False)
    expires_at: str
    scopes: list[str]


def expose_access_token(
    services: Services, principal: Principal, connection_id: str, *, deadline: float
) -> ExposedToken:
    conn = services.connections.get_visible(principal, connection_id)
    if not services.settings.get(conn.tenant).expose_access_tokens:
        raise TokenExposureDisabled(
            "access tokens are not exposed in this tenant; an admin can turn on "
            "expose_access_tokens with PATCH /v1/settings (or call the API through the proxy)"
        )
    ensure_usable(conn)
    token = proxy_service(services).refresher.get_fresh_token(conn, deadline=deadline)
    logger.info(
        "access token exposed",
        extra={
            "connection_id": conn.id,
            "tenant": conn.tenant,
            "caller": principal.user,
            "via": principal.via,
        },
    )
    return ExposedToken(
        access_token=token.token, expires_at=rfc3339(token.expires_at), scopes=list(token.scopes)
    )
