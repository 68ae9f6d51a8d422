"""Tenant settings: one item per tenant."""

from __future__ import annotations

from typing import Any

from oauth_broker.store.models import TenantSettings
from oauth_broker.store.table import ConditionFailed, Table
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

    def update(self, tenant: str, changes: dict[str, Any], *, attempts: int = 5) -> TenantSettings:
        """Apply field-level `changes` with a compare-and-set on the version; on a lost race, re-read
        and re-apply, so two admins changing different fields never lose each other's change."""
        for _ in range(attempts - 1):
            try:
                return self._update_once(tenant, changes)
            except ConditionFailed:
                continue
        return self._update_once(tenant, changes)

    def _update_once(self, tenant: str, changes: dict[str, Any]) -> TenantSettings:
        current = self.get(tenant)
        merged = current.model_copy(
            update={**changes, "updated_at": rfc3339(), "version": current.version + 1}
        )
        pk, sk = self._key(tenant)
        if current.version == 0:
            cond, values = "attribute_not_exists(pk)", None
        else:
            cond, values = "version = :v", {":v": current.version}
        self.table.put({"pk": pk, "sk": sk, **merged.to_item()}, condition=cond, values=values)
        return merged
