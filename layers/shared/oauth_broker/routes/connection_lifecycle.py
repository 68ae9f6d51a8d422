"""DELETE /v1/connections/{id} (revoke the grant at the provider, then delete) and
POST /v1/connections/{id}/refresh (force a refresh now). Owner or tenant admin; others get 404.

The api function never decrypts: both delegate to the refresh function (`tokens.invocation`).
A disconnect answers 204 when the provider revoked the grant (or it was already dead, or there
was no token to revoke); when the provider could not be told, the connection is deleted all the
same and the answer is 200 with `{"revoked": false, ...}` so that the caller can tell its user
to remove the app in their account settings (a `connection.revocation_failed` event says so too).
When the provider failed transiently (5xx, timeout, network), the broker keeps trying: the answer
says `"revocation": "pending_retry"`, the sweep retries (GET /v1/revocations lists them) and
`connection.revocation_completed` (or a final `connection.revocation_failed`) follows.
Where revoking would revoke a grant that other connections of the tenant still hold (Google: one
grant per OAuth client and account), the grant is kept on purpose: 200 with
`{"revoked": false, "revocation": "kept_shared_grant", "shared_with": [...]}`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from oauth_broker import audit
from oauth_broker.auth.principal import Principal
from oauth_broker.errors import NotFound
from oauth_broker.http.audited import audited
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import current_principal, new_router
from oauth_broker.routes.connections import ConnectionOut
from oauth_broker.services import get_services
from oauth_broker.tokens.invocation import RefreshFunctionClient, disconnect
from oauth_broker.tokens.revocation import KEPT_SHARED_GRANT, PENDING_RETRY, RevocationReport

router = new_router()

# The api function's own timeout is 29 s: leave room to answer after the refresh function.
_MARGIN_MS = 3000
_MAX_BUDGET_MS = 25_000
_MIN_BUDGET_MS = 1000


class ConnectionDeleted(BaseModel):
    """The answer to a DELETE that did not revoke the grant at the provider (the connection is
    deleted): the revocation failed, or the grant is kept because other connections hold it."""

    id: str
    deleted: bool = Field(description="always true: the connection is gone from the broker")
    revoked: bool = Field(description="false: the provider may still honour the grant")
    revocation: str = Field(
        description="pending_retry (the broker keeps retrying: GET /v1/revocations), failed, "
        "not_supported or kept_shared_grant"
    )
    error: str | None = Field(description="a stable code for why the revocation failed")
    shared_with: list[str] = Field(
        default_factory=list,
        description="kept_shared_grant: the connections (that the caller may see) still holding the grant",
    )
    detail: str


def _budget_ms() -> int | None:
    """How long the refresh function may take, from this invocation's remaining time."""
    remaining = current_invocation(router).lambda_remaining_ms()
    if remaining is None:  # no Lambda context (tests building events by hand)
        return None
    return max(_MIN_BUDGET_MS, min(_MAX_BUDGET_MS, remaining - _MARGIN_MS))


@router.delete(
    "/v1/connections/<connection_id>",
    summary="Disconnect: revoke the grant at the provider, then delete the connection",
    tags=["connections"],
    middlewares=[audited("connection.deleted", resource="connection", id_param="connection_id")],
    responses={
        204: {
            "description": "revoked at the provider (or nothing left to revoke) and deleted",
            "content": {},
        },
        200: {
            "description": "deleted, but the provider could not be told to revoke the grant",
            "content": {"application/json": {"model": ConnectionDeleted}},
        },
    },
)
def delete_connection(connection_id: str) -> Response[Any]:
    principal = current_principal(router)
    services = get_services()
    conn = services.connections.get_visible(principal, connection_id)
    report = disconnect(services, conn, budget_ms=_budget_ms())
    audit.note(provider=conn.provider, revocation=report.outcome, revocation_error=report.error)
    if report.revoked:
        return Response(status_code=204)
    if report.outcome == KEPT_SHARED_GRANT:
        body = _kept_shared_grant(principal, conn.id, report)
    elif report.outcome == PENDING_RETRY:
        body = ConnectionDeleted(
            id=conn.id,
            deleted=report.deleted,
            revoked=False,
            revocation=PENDING_RETRY,
            error=report.error,
            detail=(
                "the connection is deleted; the provider could not take the revocation of its grant "
                "for now, and the broker keeps retrying (with backoff, for up to 30 days): "
                "connection.revocation_completed follows when it lands"
            ),
        )
    else:
        body = ConnectionDeleted(
            id=conn.id,
            deleted=report.deleted,
            revoked=False,
            revocation=report.outcome,
            error=report.error,
            detail=(
                "the connection is deleted, but the provider could not be told to revoke its grant; "
                "the account owner can remove the app in their account's security settings"
            ),
        )
    return Response(
        status_code=200,
        content_type="application/json",
        body=body.model_dump_json(),
        headers={"Cache-Control": "no-store"},
    )


def _kept_shared_grant(
    principal: Principal, connection_id: str, report: RevocationReport
) -> ConnectionDeleted:
    """Names the connections still holding the grant that the caller may see; counts the others."""
    connections = get_services().connections
    visible: list[str] = []
    hidden = 0
    for sibling_id in report.shared_with:
        sibling = connections.get(sibling_id)
        if sibling is None:
            continue
        if principal.can_access(sibling.tenant, sibling.owner):
            visible.append(sibling_id)
        else:
            hidden += 1
    holders = [f"connection(s) {', '.join(visible)}"] if visible else []
    if hidden:
        holders.append(f"{hidden} connection(s) of other users")
    return ConnectionDeleted(
        id=connection_id,
        deleted=report.deleted,
        revoked=False,
        revocation=KEPT_SHARED_GRANT,
        error=None,
        shared_with=visible,
        detail=(
            "the connection is deleted; its grant at the provider is not revoked because it is "
            f"still used by {' and '.join(holders) or 'other connections'} (the provider revokes "
            "the whole grant of an OAuth client and account at once): deleting the last of them "
            "revokes it"
        ),
    )


@router.post(
    "/v1/connections/<connection_id>/refresh",
    summary="Refresh the connection's access token now",
    tags=["connections"],
)
def refresh_connection(connection_id: str) -> ConnectionOut:
    principal = current_principal(router)
    services = get_services()
    conn = services.connections.get_visible(principal, connection_id)
    RefreshFunctionClient(services).refresh(conn.tenant, conn.id, budget_ms=_budget_ms())
    latest = services.connections.get(conn.id)
    if latest is None:
        raise NotFound(f"connection {connection_id} not found")
    return ConnectionOut.of(latest)
