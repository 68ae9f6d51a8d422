"""The caller, as the authorizer decided it. Handlers get a `Principal`, never raw auth headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.errors import Forbidden, Unauthorized, ValidationFailed

_USER_ID = re.compile(r"^[A-Za-z0-9._@:|+\-]{1,256}$")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    ctx = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    tenant, user, via = ctx.get("tenant"), ctx.get("user"), ctx.get("via")
    if not tenant or not user or via not in ("jwt", "api_key"):
        raise Unauthorized("no authorized principal on this request")
    principal = Principal(
        tenant=str(tenant),
        user=str(user),
        is_admin=_truthy(ctx.get("is_admin")),
        via=via,
        key_id=str(ctx.get("key_id") or "") or None,
    )
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    on_behalf_of = headers.get("x-on-behalf-of")
    if on_behalf_of:
        # Only a server-to-server API key may act for an end user; a user's JWT may not.
        if principal.via != "api_key":
            raise Forbidden("X-On-Behalf-Of is only accepted with an API key")
        if not _USER_ID.match(on_behalf_of):
            raise ValidationFailed(
                "X-On-Behalf-Of is not a valid user id",
                errors=[
                    {"loc": ["header", "x-on-behalf-of"], "msg": "invalid user id", "type": "value_error"}
                ],
            )
        # Acting for the user, with that user's rights: delegated access, not admin.
        principal = Principal(
            tenant=principal.tenant, user=on_behalf_of, is_admin=False, via="api_key", key_id=principal.key_id
        )
    return principal
