"""A tenant's OAuth clients (its OAuth apps at a provider): create, rename, rotate the secret, delete.

The secret is write-only: envelope-encrypted under (tenant, client id, "client_secret") before it is
stored, and only its last 4 characters (`secret_hint`) are ever shown. A client cannot be deleted
while a connection of the tenant uses it (409): the connection's refresh needs its secret.
"""

from __future__ import annotations

from typing import Any

from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.errors import Conflict, NotFound, ValidationFailed
from oauth_broker.ids import hint, new_id
from oauth_broker.providers.registry import provider_registry
from oauth_broker.store.models import OAuthClientRecord
from oauth_broker.timeutil import rfc3339


def _encrypt_secret(services: Any, tenant: str, client_id: str, secret: str) -> str:
    blob: str = services.envelope.encrypt(
        secret.encode(), EncryptionContext(tenant, client_id, "client_secret")
    )
    return blob


def create_oauth_client(
    services: Any, tenant: str, *, name: str, provider: str, client_id: str, client_secret: str
) -> OAuthClientRecord:
    try:
        definition = provider_registry(services).get(tenant, provider).definition
    except NotFound:
        raise ValidationFailed(
            f"invalid: provider: unknown provider {provider!r}",
            errors=[
                {"loc": ["body", "provider"], "msg": f"unknown provider {provider!r}", "type": "value_error"}
            ],
        ) from None
    record_id = new_id("ocl")
    now = rfc3339()
    record = OAuthClientRecord(
        id=record_id,
        tenant=tenant,
        name=name,
        provider=definition.key,
        client_id=client_id,
        enc_client_secret=_encrypt_secret(services, tenant, record_id, client_secret),
        secret_hint=hint(client_secret),
        created_at=now,
        updated_at=now,
    )
    created: OAuthClientRecord = services.oauth_clients.create(record)
    return created


def update_oauth_client(
    services: Any, tenant: str, client_record_id: str, *, name: str | None, client_secret: str | None
) -> OAuthClientRecord:
    """Renames and/or rotates the secret, keeping the id; 409 when another writer got there first."""
    current: OAuthClientRecord = services.oauth_clients.get(tenant, client_record_id)
    changes: dict[str, Any] = {"updated_at": rfc3339()}
    if name is not None:
        changes["name"] = name
    if client_secret is not None:
        changes["enc_client_secret"] = _encrypt_secret(services, tenant, current.id, client_secret)
        changes["secret_hint"] = hint(client_secret)
    saved: OAuthClientRecord = services.oauth_clients.save(
        current.model_copy(update=changes), expected_version=current.version
    )
    return saved


def oauth_client_in_use(services: Any, tenant: str, client_record_id: str) -> bool:
    """Whether any connection of the tenant (whatever its status) uses the client."""
    items = services.table.query_all(
        "tenant_pk = :t",
        {":t": f"TENANT#{tenant}#CON", ":c": client_record_id},
        index="ByTenant",
        filter_expression="oauth_client_id = :c",
    )
    return next(iter(items), None) is not None


def delete_oauth_client(services: Any, tenant: str, client_record_id: str) -> None:
    services.oauth_clients.get(tenant, client_record_id)  # 404 for an unknown (or another tenant's) id
    if oauth_client_in_use(services, tenant, client_record_id):
        raise Conflict("the OAuth client is used by connections; delete or re-authorize them first")
    services.oauth_clients.delete(tenant, client_record_id)
