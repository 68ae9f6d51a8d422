"""POST /v1/connections/{id}/test (does the connection work?) and GET /v1/connections/{id}/token
(its access token, when the tenant exposes tokens)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from oauth_broker import audit
from oauth_broker.http.audited import audited
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.proxy.probe import connection_probe
from oauth_broker.proxy.token_access import expose_access_token
from oauth_broker.services import get_services

router = new_router()


class ProbeError(BaseModel):
    code: str = Field(
        description="stable code: needs_reauth, revoked, scope_not_granted, upstream_error, ..."
    )
    detail: str
    upstream_status: int | None = None
    upstream_reason: str | None = None


class ProbeOut(BaseModel):
    ok: bool
    account: dict[str, str] | None = Field(default=None, description="{email, sub?} as the provider sees it")
    latency_ms: int
    error: ProbeError | None = None


class TokenOut(BaseModel):
    access_token: str
    expires_at: str = Field(description="RFC 3339")
    scopes: list[str]


@router.post(
    "/v1/connections/<connection_id>/test",
    summary="Test a connection",
    description="Calls the provider's profile endpoint. Always 200 for a visible connection: "
    "`ok: false` with `error.code` when the call fails.",
    tags=["connections"],
)
def test_connection(connection_id: str) -> ProbeOut:
    invocation = current_invocation(router)
    result = connection_probe(get_services()).test(
        invocation.principal(), connection_id, deadline=invocation.deadline()
    )
    error: dict[str, Any] | None = result.error
    return ProbeOut(
        ok=result.ok,
        account=result.account,
        latency_ms=result.latency_ms,
        error=ProbeError.model_validate(error) if error else None,
    )


@router.get(
    "/v1/connections/<connection_id>/token",
    summary="Read the connection's access token",
    description="Only when the tenant setting expose_access_tokens is on (403 "
    "token_exposure_disabled otherwise). Never cached (Cache-Control: no-store).",
    tags=["connections"],
    middlewares=[audited("connection.token_exposed", resource="connection", id_param="connection_id")],
)
def get_access_token(connection_id: str) -> Response[TokenOut]:
    invocation = current_invocation(router)
    token = expose_access_token(
        get_services(), invocation.principal(), connection_id, deadline=invocation.deadline()
    )
    audit.note(scopes=token.scopes)
    return Response(
        status_code=200,
        content_type="application/json",
        body=TokenOut(access_token=token.access_token, expires_at=token.expires_at, scopes=token.scopes),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
