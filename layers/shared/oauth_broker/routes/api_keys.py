"""/v1/api-keys: server-to-server keys (admin only). The key is shown once, at creation.

Only a JWT admin creates keys: a key cannot mint its successor (and so outlive its own deletion).
Creating and deleting are admin writes, re-checked against the store for an API-key caller.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker import audit
from oauth_broker.errors import Forbidden
from oauth_broker.http.audited import audited
from oauth_broker.http.resolver import current_principal, new_router, require_admin, require_admin_write
from oauth_broker.services import get_services
from oauth_broker.store.models import ApiKeyRecord

router = new_router()


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    key_hint: str
    created_at: str
    created_by: str

    @classmethod
    def of(cls, r: ApiKeyRecord) -> ApiKeyOut:
        return cls(
            id=r.id, name=r.name, key_hint=r.key_hint, created_at=r.created_at, created_by=r.created_by
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]
    next_cursor: str | None = None


@router.post(
    "/v1/api-keys",
    summary="Create an API key",
    tags=["api-keys"],
    status_code=201,
    middlewares=[audited("api_key.created", resource="api_key")],
)
def create_api_key(body: ApiKeyCreate) -> Response[ApiKeyCreated]:
    principal = require_admin_write(router)
    if principal.via != "jwt":
        raise Forbidden("API keys are created by a tenant admin's JWT, not by an API key")
    record, key = get_services().api_keys.create(principal.tenant, body.name, principal.user)
    audit.note(resource_id=record.id)
    created = ApiKeyCreated(**ApiKeyOut.of(record).model_dump(), key=key)
    return Response(
        status_code=201,
        content_type="application/json",
        body=created,
        headers={"Location": f"/v1/api-keys/{record.id}", "Cache-Control": "no-store"},
    )


@router.get("/v1/api-keys", summary="List API keys", tags=["api-keys"])
def list_api_keys() -> ApiKeyList:
    principal = require_admin(current_principal(router))
    return ApiKeyList(data=[ApiKeyOut.of(r) for r in get_services().api_keys.list(principal.tenant)])


@router.delete(
    "/v1/api-keys/<key_id>",
    summary="Revoke an API key",
    tags=["api-keys"],
    middlewares=[audited("api_key.deleted", resource="api_key", id_param="key_id")],
)
def delete_api_key(key_id: str) -> Response[None]:
    principal = require_admin_write(router)
    get_services().api_keys.delete(principal.tenant, key_id)
    return Response(status_code=204)
