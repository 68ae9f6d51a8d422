"""A tenant's provider state: `TENANT#{t}` / `PROVIDER#{key}`.

One item per provider the tenant changed: the `enabled` flag of a built-in provider, or a custom
provider registered with `POST /v1/providers` (its validated definition, discovery already
applied, as a JSON string so that DynamoDB's types cannot reshape it). A built-in provider without
an item is enabled.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from oauth_broker.store.models import Item
from oauth_broker.store.table import ConditionFailed, Table
from oauth_broker.timeutil import rfc3339


class TenantProviderRecord(Item):
    tenant: str
    key: str
    enabled: bool = True
    # A custom provider's definition (catalog schema, JSON); None for a built-in provider's state.
    definition_json: str | None = None
    created_at: str
    updated_at: str
    version: int = Field(default=1, ge=1)

    @property
    def custom(self) -> bool:
        return self.definition_json is not None

    def definition(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.definition_json or "{}")
        return data


class TenantProviderStore:
    def __init__(self, table: Table):
        self.table = table

    @staticmethod
    def key(tenant: str, provider: str) -> tuple[str, str]:
        return f"TENANT#{tenant}", f"PROVIDER#{provider}"

    def get(self, tenant: str, provider: str) -> TenantProviderRecord | None:
        item = self.table.get(*self.key(tenant, provider))
        record: TenantProviderRecord | None = TenantProviderRecord.from_item(item) if item else None
        return record

    def list(self, tenant: str) -> list[TenantProviderRecord]:
        items = self.table.query_all(
            "pk = :pk AND begins_with(sk, :p)", {":pk": f"TENANT#{tenant}", ":p": "PROVIDER#"}
        )
        return [TenantProviderRecord.from_item(i) for i in items]

    def create_custom(
        self, tenant: str, provider: str, definition: dict[str, Any], *, enabled: bool
    ) -> TenantProviderRecord:
        """Stores a new custom provider; `ConditionFailed` (409) when the key is taken in the tenant."""
        now = rfc3339()
        rec = TenantProviderRecord(
            tenant=tenant,
            key=provider,
            enabled=enabled,
            definition_json=json.dumps(definition, separators=(",", ":"), sort_keys=True),
            created_at=now,
            updated_at=now,
        )
        pk, sk = self.key(tenant, provider)
        self.table.put({"pk": pk, "sk": sk, **rec.to_item()}, condition="attribute_not_exists(pk)")
        return rec

    def set_enabled(
        self, tenant: str, provider: str, enabled: bool, *, attempts: int = 5
    ) -> TenantProviderRecord:
        """Sets the flag with a compare-and-set on the version (re-read and retried on a lost race).

        Creates the state item of a built-in provider on first change.
        """
        for attempt in range(attempts):
            current = self.get(tenant, provider)
            now = rfc3339()
            pk, sk = self.key(tenant, provider)
            if current is None:
                rec = TenantProviderRecord(
                    tenant=tenant, key=provider, enabled=enabled, created_at=now, updated_at=now
                )
                cond, values = "attribute_not_exists(pk)", None
            else:
                rec = current.model_copy(
                    update={"enabled": enabled, "updated_at": now, "version": current.version + 1}
                )
                cond, values = "version = :v", {":v": current.version}
            try:
                self.table.put({"pk": pk, "sk": sk, **rec.to_item()}, condition=cond, values=values)
                return rec
            except ConditionFailed:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
