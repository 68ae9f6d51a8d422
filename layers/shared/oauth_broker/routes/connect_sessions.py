"""POST /v1/connect-sessions: a single-use, 10-minute ticket for one connect flow of the caller."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker.connect.sessions import ConnectSessionRequest, create_connect_session
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.services import get_services
from oauth_broker.timeutil import rfc3339

router = new_router()


class ConnectSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=64)
    oauth_client_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the connection's name (default: the account's email; on re-authorization: unchanged)",
    )
    scopes: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="full scope strings or the catalog's short names; default: the provider's default "
        "scopes (re-authorization: the connection's); the provider's base scopes are always added",
    )
    prompt: str | None = Field(
        default=None, max_length=64, description="space-separated subset of: none consent select_account"
    )
    login_hint: str | None = Field(default=None, min_length=1, max_length=320)
    return_to: str = Field(
        min_length=1,
        max_length=2048,
        description="required: an origin or URL on the tenant's allowed_return_origins; the result and "
        "its confirmation go only there",
    )
    mode: Literal["popup", "redirect"] = "popup"
    connection_id: str | None = Field(
        default=None, max_length=64, description="re-authorize this connection of the caller (keeps its id)"
    )


class ConnectSessionOut(BaseModel):
    token: str = Field(description="single use; valid for 10 minutes")
    authorize_url: str = Field(description="open this in the popup (or navigate to it in redirect mode)")
    expires_at: str


@router.post(
    "/v1/connect-sessions",
    summary="Create a connect session",
    tags=["connect"],
    status_code=201,
)
def create_session(body: ConnectSessionCreate) -> Response[ConnectSessionOut]:
    invocation = current_invocation(router)
    principal = invocation.principal()
    created = create_connect_session(
        get_services(),
        principal,
        ConnectSessionRequest(
            provider=body.provider,
            oauth_client_id=body.oauth_client_id,
            name=body.name,
            scopes=[s.strip() for s in body.scopes if s.strip()],
            prompt=body.prompt,
            login_hint=body.login_hint,
            return_to=body.return_to,
            mode=body.mode,
            connection_id=body.connection_id,
        ),
        domain_name=invocation.domain_name,
    )
    return Response(
        status_code=201,
        content_type="application/json",
        body=ConnectSessionOut(
            token=created.token, authorize_url=created.authorize_url, expires_at=rfc3339(created.expires_at)
        ),
        headers={"Location": created.authorize_url, "Cache-Control": "no-store"},
    )
