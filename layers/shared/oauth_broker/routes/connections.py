"""/v1/connections: list, read and change connections. Owner or tenant admin; anybody else gets 404.

`ConnectionOut.of(record)` is the one public shape of a connection (other routes import it).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker.connect.connection_updates import MAX_CONCURRENCY, MIN_CONCURRENCY, update_connection
from oauth_broker.http.resolver import current_principal, new_router
from oauth_broker.services import get_services
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import rfc3339

router = new_router()


class AccountOut(BaseModel):
    email: str | None
    sub: str | None


class ConnectionOut(BaseModel):
    id: str
    name: str
    provider: str
    oauth_client_id: str
    owner: str
    account: AccountOut
    scopes_requested: list[str]
    scopes_granted: list[str]
    status: str = Field(
        description="pending (awaiting confirmation by the user who started the connect flow), active, "
        "partial, needs_reauth or revoked"
    )
    status_reason: str | None = Field(
        description="why the status is what it is (e.g. scopes_not_granted, provider_disabled, invalid_grant)"
    )
    concurrency_level: int | None
    borrow_concurrency_from: str | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    last_refreshed_at: str | None
    expires_at: str | None = Field(description="when the current access token expires (RFC 3339)")

    @classmethod
    def of(cls, r: ConnectionRecord) -> ConnectionOut:
        return cls(
            id=r.id,
            name=r.name,
            provider=r.provider,
            oauth_client_id=r.oauth_client_id,
            owner=r.owner,
            account=AccountOut(email=r.account_email, sub=r.account_sub),
            scopes_requested=list(r.scopes_requested),
            scopes_granted=list(r.scopes_granted),
            status=r.status.value,
            status_reason=r.status_reason,
            concurrency_level=r.concurrency_level,
            borrow_concurrency_from=r.borrow_concurrency_from,
            metadata=dict(r.metadata),
            created_at=r.created_at,
            updated_at=r.updated_at,
            last_refreshed_at=r.last_refreshed_at,
            expires_at=rfc3339(r.expires_at) if r.expires_at is not None else None,
        )


class ConnectionList(BaseModel):
    data: list[ConnectionOut]
    next_cursor: str | None


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    concurrency_level: int | None = Field(
        default=None,
        ge=MIN_CONCURRENCY,
        le=MAX_CONCURRENCY,
        description="requests in flight at once (1-25), or null for no limit",
    )
    borrow_concurrency_from: str | None = Field(
        default=None, max_length=64, description="share another connection's concurrency limit; null to stop"
    )
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="merged as a JSON Merge Patch (RFC 7396: null removes a key); null clears; 4 KB at most",
    )


@router.get("/v1/connections", summary="List connections", tags=["connections"])
def list_connections(
    user: Annotated[str | None, Query(max_length=256, description="admin: one user's connections")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> ConnectionList:
    principal = current_principal(router)
    if not principal.is_admin and user is not None and user != principal.user:
        return ConnectionList(data=[], next_cursor=None)  # a user sees only their own
    records, next_cursor = get_services().connections.list_for(
        principal, user=user, limit=limit, cursor=cursor
    )
    return ConnectionList(data=[ConnectionOut.of(r) for r in records], next_cursor=next_cursor)


@router.get("/v1/connections/<connection_id>", summary="Read a connection", tags=["connections"])
def read_connection(connection_id: str) -> ConnectionOut:
    principal = current_principal(router)
    return ConnectionOut.of(get_services().connections.get_visible(principal, connection_id))


@router.patch("/v1/connections/<connection_id>", summary="Change a connection", tags=["connections"])
def patch_connection(connection_id: str, body: ConnectionPatch) -> ConnectionOut:
    principal = current_principal(router)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return ConnectionOut.of(update_connection(get_services(), principal, connection_id, changes))
