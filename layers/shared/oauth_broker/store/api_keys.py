"""Server-to-server API keys: stored only as a SHA-256 hash (keys carry 256 random bits)."""

from __future__ import annotations

from oauth_broker.errors import NotFound
from oauth_broker.ids import hint, new_id, random_token, sha256_hex
from oauth_broker.store.models import ApiKeyRecord
from oauth_broker.store.table import Table
from oauth_broker.timeutil import rfc3339

API_KEY_PREFIX = "obk"


class ApiKeyStore:
    def __init__(self, table: Table):
        self.table = table

    def create(self, tenant: str, name: str, created_by: str) -> tuple[ApiKeyRecord, str]:
        """Returns the record and the key itself, which is never stored and never shown again."""
        key = random_token(API_KEY_PREFIX)
        record = ApiKeyRecord(
            id=new_id("key"),
            tenant=tenant,
            name=name,
            key_hash=sha256_hex(key),
            key_hint=f"{API_KEY_PREFIX}_{hint(key)}",
            created_at=rfc3339(),
            created_by=created_by,
        )
        self.table.put(
            {
                "pk": f"APIKEY#{record.key_hash}",
                "sk": "APIKEY",
                "tenant_pk": f"TENANT#{tenant}#APIKEY",
                "tenant_sk": f"APIKEY#{record.id}",
                **record.to_item(),
            },
            condition="attribute_not_exists(pk)",
        )
        return record, key

    def lookup(self, key: str) -> ApiKeyRecord | None:
        """The record a presented key belongs to, or None (unknown or revoked): one strongly
        consistent GetItem, so a key deleted a moment ago is already gone here."""
        if not key.startswith(f"{API_KEY_PREFIX}_") or len(key) > 128:
            return None
        item = self.table.get(f"APIKEY#{sha256_hex(key)}", "APIKEY", consistent=True)
        return ApiKeyRecord.from_item(item) if item else None

    def list(self, tenant: str) -> list[ApiKeyRecord]:
        items = self.table.query_all(
            "tenant_pk = :t AND begins_with(tenant_sk, :p)",
            {":t": f"TENANT#{tenant}#APIKEY", ":p": "APIKEY#"},
            index="ByTenant",
        )
        return [ApiKeyRecord.from_item(i) for i in items]

    def delete(self, tenant: str, key_id: str) -> None:
        items, _ = self.table.query(
            "tenant_pk = :t AND tenant_sk = :s",
            {":t": f"TENANT#{tenant}#APIKEY", ":s": f"APIKEY#{key_id}"},
            index="ByTenant",
        )
        if not items:
            raise NotFound(f"API key {key_id} not found")
        self.table.delete(items[0]["pk"], "APIKEY")
