"""GET /v1/audit: the tenant's audit trail, newest first (admin only).

Only the caller's tenant: its records are the partition the Query reads (`store.audit`), and a
cursor is bound to that partition. Filters: a resource id, an actor (a user id or an API key id;
a user also matches the requests an API key made on their behalf), an action, and a time window.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from oauth_broker.audit import parse_instant
from oauth_broker.errors import ValidationFailed
from oauth_broker.http.resolver import current_principal, new_router, require_admin
from oauth_broker.services import get_services
from oauth_broker.store.audit import AuditFilter, AuditStore

router = new_router()


class AuditActorOut(BaseModel):
    type: str = Field(description="user, api_key or system (the broker on its own)")
    id: str = Field(description="the user id, the API key's id, or oauth-broker")
    on_behalf_of: str | None = Field(default=None, description="an API key's X-On-Behalf-Of user")
    ip: str | None = Field(default=None, description="the request's source IP")
    user_agent: str | None = None


class AuditResourceOut(BaseModel):
    type: str = Field(description="settings, api_key, oauth_client, provider or connection")
    id: str | None = None


class AuditRecordOut(BaseModel):
    id: str
    tenant: str
    action: str = Field(description="e.g. api_key.created, provider.disabled, connection.token_exposed")
    outcome: str = Field(description="succeeded or failed")
    status: int | None = Field(default=None, description="the HTTP status answered (requests only)")
    code: str | None = Field(default=None, description="the problem code of a failure")
    actor: AuditActorOut
    resource: AuditResourceOut
    occurred_at: str = Field(description="RFC 3339, to the millisecond")
    details: dict[str, Any] = Field(default_factory=dict, description="non-secret facts of the action")


class AuditList(BaseModel):
    data: list[AuditRecordOut]
    next_cursor: str | None


def _instant(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise ValidationFailed(
            f"invalid: {name}",
            errors=[{"loc": ["query", name], "msg": "not an RFC 3339 date-time", "type": "value_error"}],
        ) from None


@router.get(
    "/v1/audit",
    summary="Read the tenant's audit trail",
    description="Admin actions, connect confirmations, access tokens exposed, disconnects and the "
    "broker's own revocations, newest first. Records are kept AuditRetentionDays (400 by default).",
    tags=["audit"],
)
def list_audit(
    resource: Annotated[str | None, Query(max_length=256, description="a resource id")] = None,
    actor: Annotated[str | None, Query(max_length=256, description="a user id or an API key id")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. api_key.created")] = None,
    since: Annotated[str | None, Query(max_length=64, description="RFC 3339, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=64, description="RFC 3339, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> AuditList:
    principal = require_admin(current_principal(router))
    window = AuditFilter(
        resource=resource,
        actor=actor,
        action=action,
        since=_instant("since", since),
        until=_instant("until", until),
    )
    if window.since and window.until and window.since > window.until:
        raise ValidationFailed(
            "invalid: since is after until",
            errors=[{"loc": ["query", "since"], "msg": "after until", "type": "value_error"}],
        )
    records, next_cursor = AuditStore(get_services().table).list(
        principal.tenant, window, limit=limit, cursor=cursor
    )
    return AuditList(data=[AuditRecordOut.model_validate(r) for r in records], next_cursor=next_cursor)
