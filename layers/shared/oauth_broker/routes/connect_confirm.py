"""POST /v1/connect-sessions/confirm: the user who started a connect flow makes its result live.

Served by the callback function (it holds the decrypt rights that revoking a discarded result
needs). Anyone but the session's creator gets 404, and the result they presented is discarded.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker.connect.confirmation import MAX_CONFIRMATION_LENGTH, confirm
from oauth_broker.http.audited import audited
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.routes.connections import ConnectionOut
from oauth_broker.services import get_services

router = new_router()


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmation: str = Field(
        min_length=1,
        max_length=MAX_CONFIRMATION_LENGTH,
        description="the single-use `confirmation` of the flow's result (popup message or redirect)",
    )


@router.post(
    "/v1/connect-sessions/confirm",
    summary="Confirm a connect flow's result",
    description="By the principal that created the connect session (same tenant and user; an API key "
    "acting `X-On-Behalf-Of` that user counts): the pending result becomes live (a new connection "
    "`active` or `partial`; a re-authorization's tokens replace the old ones) and `connection.created` "
    "or `connection.updated` is emitted. Anyone else, a used or an expired confirmation: 404, and a "
    "confirmation presented by another principal is spent (its result discarded).",
    tags=["connect"],
    middlewares=[audited("connection.confirmed", resource="connection")],
    responses={
        200: {"description": "the confirmed connection"},
        404: {"description": "unknown, used, expired, or not the caller's"},
    },
)
def confirm_session(body: ConfirmRequest) -> Response[ConnectionOut]:
    invocation = current_invocation(router)
    conn = confirm(get_services(), invocation.principal(), body.confirmation, deadline=invocation.deadline())
    return Response(
        status_code=200,
        content_type="application/json",
        body=ConnectionOut.of(conn),
        headers={"Cache-Control": "no-store"},
    )
