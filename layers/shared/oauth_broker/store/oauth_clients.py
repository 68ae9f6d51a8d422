"""OAuth clients: items under the tenant's partition (`TENANT#{t}` / `OCL#{id}`)."""

from __future__ import annotations

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

    def create(self, rec: OAuthClientRecord) -> OAuthClientRecord:
        pk, sk = self.key(rec.tenant, rec.id)
        self.table.put({"pk": pk, "sk": sk, **rec.to_item()}, condition="attribute_not_exists(pk)")
        return rec

    def save(self, rec: OAuthClientRecord, *, expected_version: int) -> OAuthClientRecord:
        new = rec.model_copy(update={"version": expected_version + 1})
        pk, sk = self.key(rec.tenant, rec.id)
        self.table.put(
            {"pk": pk, "sk": sk, **new.to_item()}, condition="version = :v", values={":v": expected_version}
        )
        return new

    def delete(self, tenant: str, client_id: str) -> None:
        self.table.delete(*self.key(tenant, client_id), condition="attribute_exists(pk)")
