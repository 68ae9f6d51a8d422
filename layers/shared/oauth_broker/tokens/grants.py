"""Grants shared by connections. Where revoking any one token revokes the whole grant of an
(OAuth client, account) pair (the catalog's `auth.revocation_revokes_grant`: Google), every
connection of that pair holds the same grant: revoking one connection's token kills the others'.

Two connections share a grant when they belong to the same tenant, the same account
(`account_sub`) and OAuth clients with the same client id at the provider (one OAuth client
record, or several: e.g. one for google-mail and one for google-contacts, made with the same
Google Cloud OAuth client). Connections of other tenants are never looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services
    from oauth_broker.store.connections import ConnectionStore
    from oauth_broker.store.models import ConnectionRecord


def same_app_client_ids(services: Services, rec: ConnectionRecord) -> list[str]:
    """The ids of the tenant's OAuth client records with the same client id at the provider as
    `rec`'s (`rec.oauth_client_id` included; only it when that record is gone)."""
    clients = services.oauth_clients.list(rec.tenant)
    own = next((c for c in clients if c.id == rec.oauth_client_id), None)
    if own is None:
        return [rec.oauth_client_id]
    return [c.id for c in clients if c.client_id == own.client_id]


def shared_grant_siblings(
    services: Services,
    rec: ConnectionRecord,
    provider: ProviderDefinition,
    *,
    connections: ConnectionStore | None = None,
    include_self: bool = False,
) -> list[ConnectionRecord]:
    """The other connections whose grant revoking `rec`'s token would revoke too (with
    `include_self`, the stored connection `rec.id` counts as well when it is live: `rec` then
    holds tokens that are not that connection's own); none where the provider revokes single
    tokens (no read then)."""
    if not provider.auth.revocation_revokes_grant:
        return []
    store = connections or services.connections
    return store.grant_siblings(
        rec, oauth_client_ids=same_app_client_ids(services, rec), include_self=include_self
    )
