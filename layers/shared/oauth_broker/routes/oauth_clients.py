"""/v1/oauth-clients: the tenant's OAuth apps at providers. Admin only, except reads.

`client_secret` is write-only (reads show `secret_hint`, its last 4 characters); `callback_url` is the
redirect URI to register at the provider (Google Console: Authorized redirect URIs).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from oauth_broker import audit
from oauth_broker.connect.oauth_clients import create_oauth_client, delete_oauth_client, update_oauth_client
from oauth_broker.connect.urls import callback_url
from oauth_broker.http.audited import audited
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import current_principal, new_router, require_admin_write
from oauth_broker.services import get_services
from oauth_broker.store.models import OAuthClientRecord

router = new_router()


class OAuthClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    provider: str = Field(min_length=1, max_length=64)
    client_id: str = Field(min_length=1, max_length=512, pattern=r"^\S+$")
    client_secret: str = Field(min_length=1, max_length=1024, description="write-only")


class OAuthClientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    client_secret: str | None = Field(
        default=None, min_length=1, max_length=1024, description="write-only; rotates the secret"
    )


class OAuthClientOut(BaseModel):
    id: str
    name: str
    provider: str
    client_id: str
    secret_hint: str = Field(description="the last 4 characters of the write-only client secret")
    callback_url: str = Field(description="the redirect URI to register at the provider")
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, r: OAuthClientRecord, callback: str) -> OAuthClientOut:
        return cls(
            id=r.id,
            name=r.name,
            provider=r.provider,
            client_id=r.client_id,
            secret_hint=r.secret_hint,
            callback_url=callback,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class OAuthClientList(BaseModel):
    data: list[OAuthClientOut]
    next_cursor: str | None = None


def _callback() -> str:
    return callback_url(get_services().config, current_invocation(router).domain_name)


@router.post(
    "/v1/oauth-clients",
    summary="Register an OAuth client",
    tags=["oauth-clients"],
    status_code=201,
    middlewares=[audited("oauth_client.created", resource="oauth_client")],
)
def create_client(body: OAuthClientCreate) -> Response[OAuthClientOut]:
    principal = require_admin_write(router)
    record = create_oauth_client(
        get_services(),
        principal.tenant,
        name=body.name,
        provider=body.provider,
        client_id=body.client_id,
        client_secret=body.client_secret,
    )
    audit.note(resource_id=record.id, provider=record.provider)
    return Response(
        status_code=201,
        content_type="application/json",
        body=OAuthClientOut.of(record, _callback()),
        headers={"Location": f"/v1/oauth-clients/{record.id}"},
    )


@router.get("/v1/oauth-clients", summary="List OAuth clients", tags=["oauth-clients"])
def list_clients() -> OAuthClientList:
    principal = current_principal(router)
    callback = _callback()
    records = sorted(get_services().oauth_clients.list(principal.tenant), key=lambda r: (r.created_at, r.id))
    return OAuthClientList(data=[OAuthClientOut.of(r, callback) for r in records])


@router.get("/v1/oauth-clients/<client_id>", summary="Read an OAuth client", tags=["oauth-clients"])
def read_client(client_id: str) -> OAuthClientOut:
    principal = current_principal(router)
    return OAuthClientOut.of(get_services().oauth_clients.get(principal.tenant, client_id), _callback())


@router.patch(
    "/v1/oauth-clients/<client_id>",
    summary="Rename an OAuth client or rotate its secret",
    tags=["oauth-clients"],
    middlewares=[audited("oauth_client.updated", resource="oauth_client", id_param="client_id")],
)
def patch_client(client_id: str, body: OAuthClientPatch) -> OAuthClientOut:
    # the names of the fields changed, never their values (a client secret is one)
    audit.note(fields=sorted(body.model_fields_set))
    principal = require_admin_write(router)
    record = update_oauth_client(
        get_services(), principal.tenant, client_id, name=body.name, client_secret=body.client_secret
    )
    return OAuthClientOut.of(record, _callback())


@router.delete(
    "/v1/oauth-clients/<client_id>",
    summary="Delete an OAuth client (409 while connections use it)",
    tags=["oauth-clients"],
    middlewares=[audited("oauth_client.deleted", resource="oauth_client", id_param="client_id")],
)
def delete_client(client_id: str) -> Response[None]:
    principal = require_admin_write(router)
    delete_oauth_client(get_services(), principal.tenant, client_id)
    return Response(status_code=204)
