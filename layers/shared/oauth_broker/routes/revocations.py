"""GET /v1/revocations: the tenant's pending revocations (admin only).

A disconnect whose revocation the provider could not take (5xx, timeout, network) leaves a
tombstone that the sweep retries (`tokens.revocation_retries`); this lists them: which connection,
its provider, the attempts made, when the next one is, and the last error code. Never the token:
the answer is built from named fields only. Only the caller's tenant (its partition; a cursor is
bound to it).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from oauth_broker.http.resolver import current_principal, new_router, require_admin
from oauth_broker.services import get_services
from oauth_broker.store.tombstones import Tombstone, TombstoneStore
from oauth_broker.timeutil import rfc3339

router = new_router()


class PendingRevocationOut(BaseModel):
    connection_id: str = Field(description="the deleted connection whose grant is still to be revoked")
    provider: str
    oauth_client_id: str
    owner: str | None = Field(default=None, description="the connection's owner")
    account_email: str | None = None
    attempts: int = Field(description="revocation attempts made so far (the disconnect's is the first)")
    next_attempt_at: str = Field(description="RFC 3339: when the sweep tries again (at the earliest)")
    last_error: str | None = Field(default=None, description="a stable code, e.g. http_503 or timeout")
    created_at: str = Field(description="RFC 3339: when the disconnect failed to revoke")
    expires_at: str = Field(description="RFC 3339: the broker gives up by then (30 days)")

    @classmethod
    def of(cls, t: Tombstone) -> PendingRevocationOut:
        owner = t.connection.get("owner")
        email = t.connection.get("account_email")
        return cls(
            connection_id=t.connection_id,
            provider=t.provider,
            oauth_client_id=t.oauth_client_id,
            owner=str(owner) if owner else None,
            account_email=str(email) if email else None,
            attempts=t.attempts,
            next_attempt_at=rfc3339(t.next_attempt_at),
            last_error=t.last_error,
            created_at=t.created_at,
            expires_at=rfc3339(t.expires_at),
        )


class PendingRevocationList(BaseModel):
    data: list[PendingRevocationOut]
    next_cursor: str | None


@router.get(
    "/v1/revocations",
    summary="List pending revocations",
    description="Disconnects whose revocation at the provider failed for now and that the broker "
    "keeps retrying (with backoff, up to 30 days). No token material.",
    tags=["connections"],
)
def list_revocations(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> PendingRevocationList:
    principal = require_admin(current_principal(router))
    tombstones, next_cursor = TombstoneStore(get_services().table).list(
        principal.tenant, limit=limit, cursor=cursor
    )
    return PendingRevocationList(
        data=[PendingRevocationOut.of(t) for t in tombstones], next_cursor=next_cursor
    )
