"""OAuth clients: items under the tenant's partition (`TENANT#{t}` / `OCL#{id}`), and in the sparse
ByProviderClient index under their client id at the provider (`PCLIENT#{client_id}` /
`OCL#{tenant}#{id}`): which tenants registered a given client id, without a scan."""

from __future__ import annotations

import builtins
from typing import Any

from oauth_broker.errors import NotFound
from oauth_broker.store.models import OAuthClientRecord
from oauth_broker.store.table import Table


class OAuthClientStore:
    def __init__(self, table: Table):
        self.table = table

    @staticmethod
    def key(tenant: str, client_id: str) -> tuple[str, str]:
        return f"TENANT#{tenant}", f"OCL#{client_id}"

    def get(self, tenant: str, client_id: str) -> OAuthClientRecord:
        item = self.table.get(*self.key(tenant, client_id)) if client_id.startswith("ocl_") else None
        if item is None:
            raise NotFound(f"OAuth client {client_id} not found")
        record: OAuthClientRecord = OAuthClientRecord.from_item(item)
        return record

    def list(self, tenant: str) -> list[OAuthClientRecord]:
        items = self.table.query_all(
            "pk = :pk AND begins_with(sk, :p)", {":pk": f"TENANT#{tenant}", ":p": "OCL#"}
        )
        return [OAuthClientRecord.from_item(i) for i in items]

    def _item(self, rec: OAuthClientRecord) -> dict[str, Any]:
        pk, sk = self.key(rec.tenant, rec.id)
        return {
            "pk": pk,
            "sk": sk,
            "pclient_pk": provider_client_key(rec.client_id),
            "pclient_sk": f"OCL#{rec.tenant}#{rec.id}",
            **rec.to_item(),
        }

    def tenants_with_client_id(self, client_id: str) -> builtins.list[tuple[str, str]]:
        """(tenant, OAuth client record id) of every tenant's client with `client_id` at the
        provider: Queries of the ByProviderClient index (keys only)."""
        items = self.table.query_all(
            "pclient_pk = :p AND begins_with(pclient_sk, :ocl)",
            {":p": provider_client_key(client_id), ":ocl": "OCL#"},
            index="ByProviderClient",
        )
        found: builtins.list[tuple[str, str]] = []
        for item in items:
            _, tenant, ocl_id = str(item["pclient_sk"]).split("#", 2)
            found.append((tenant, ocl_id))
        return found

    def create(self, rec: OAuthClientRecord) -> OAuthClientRecord:
        self.table.put(self._item(rec), condition="attribute_not_exists(pk)")
        return rec

    def save(self, rec: OAuthClientRecord, *, expected_version: int) -> OAuthClientRecord:
        new = rec.model_copy(update={"version": expected_version + 1})
        self.table.put(self._item(new), condition="version = :v", values={":v": expected_version})
        return new

    def delete(self, tenant: str, client_id: str) -> None:
        self.table.delete(*self.key(tenant, client_id), condition="attribute_exists(pk)")


def provider_client_key(client_id: str) -> str:
    """The ByProviderClient partition of a client id at the provider."""
    return f"PCLIENT#{client_id}"
