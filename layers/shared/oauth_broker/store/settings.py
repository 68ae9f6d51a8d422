"""Tenant settings: one item per tenant."""

from __future__ import annotations

from typing import Any

from oauth_broker.store.models import TenantSettings
from oauth_broker.store.table import Table
from oauth_broker.timeutil import rfc3339


class SettingsStore:
    def __init__(self, table: Table):
        self.table = table

    @staticmethod
    def _key(tenant: str) -> tuple[str, str]:
        return f"TENANT#{tenant}", "SETTINGS"

    def get(self, tenant: str) -> TenantSettings:
        item = self.table.get(*self._key(tenant))
        settings: TenantSettings = TenantSettings.from_item(item) if item else TenantSettings(tenant=tenant)
        return settings

    def update(self, tenant: str, changes: dict[str, Any]) -> TenantSettings:
        """Apply `changes` with a compare-and-set on the version (two admins can't clobber each other)."""
        current = self.get(tenant)
        merged = current.model_copy(update={**changes, "updated_at": rfc3339(), "version": current.version + 1})
        pk, sk = self._key(tenant)
        if current.version == 0:
            cond, values = "attribute_not_exists(pk)", None
        else:
            cond, values = "version = :v", {":v": current.version}
        self.table.put({"pk": pk, "sk": sk, **merged.to_item()}, condition=cond, values=values)
        return merged
