"""Connections: one item per grant, readable by id, by owner and by tenant; CAS on `version`."""

from __future__ import annotations

import zlib
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.errors import NotFound
from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import Table

DUE_SHARDS = 8
REFRESHABLE = (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)


def due_shard(connection_id: str) -> str:
    return f"DUE#{zlib.crc32(connection_id.encode()) % DUE_SHARDS}"


class ConnectionStore:
    def __init__(self, table: Table, *, refresh_ahead_seconds: int = 300):
        self.table = table
        self.refresh_ahead = refresh_ahead_seconds

    # -- keys --------------------------------------------------------------------------------
    @staticmethod
    def key(connection_id: str) -> tuple[str, str]:
        return f"CON#{connection_id}", "CON"

    def _item(self, rec: ConnectionRecord) -> dict[str, Any]:
        pk, sk = self.key(rec.id)
        item: dict[str, Any] = {
            "pk": pk,
            "sk": sk,
            "owner_pk": f"TENANT#{rec.tenant}#USER#{rec.owner}",
            "owner_sk": f"CON#{rec.created_at}#{rec.id}",
            "tenant_pk": f"TENANT#{rec.tenant}#CON",
            "tenant_sk": f"CON#{rec.created_at}#{rec.id}",
            **rec.to_item(),
        }
        # Sparse refresh-due index: only connections that can and should be refreshed.
        if rec.status in REFRESHABLE and rec.enc_refresh_token and rec.expires_at is not None:
            item["due_pk"] = due_shard(rec.id)
            item["due_at"] = rec.expires_at - self.refresh_ahead
        return item

    # -- reads -------------------------------------------------------------------------------
    def get(self, connection_id: str) -> ConnectionRecord | None:
        item = self.table.get(*self.key(connection_id))
        return ConnectionRecord.from_item(item) if item else None

    def get_visible(self, principal: Principal, connection_id: str) -> ConnectionRecord:
        """The connection if the caller may see it; otherwise 404 (never 403: ids don't leak)."""
        rec = self.get(connection_id) if connection_id.startswith("con_") else None
        if rec is None or not principal.can_access(rec.tenant, rec.owner):
            raise NotFound(f"connection {connection_id} not found")
        return rec

    def list_for(
        self, principal: Principal, *, user: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ConnectionRecord], str | None]:
        """Own connections; an admin's whole tenant (optionally one `user`)."""
        if principal.is_admin and user is None:
            index, attr, part = "ByTenant", "tenant_pk", f"TENANT#{principal.tenant}#CON"
        else:
            owner = user if principal.is_admin and user else principal.user
            index, attr, part = "ByOwner", "owner_pk", f"TENANT#{principal.tenant}#USER#{owner}"
        start = decode_cursor(cursor, partition_attr=attr, partition_value=part)
        items, last = self.table.query(
            f"{attr} = :p", {":p": part}, index=index, limit=limit, start_key=start
        )
        return [ConnectionRecord.from_item(i) for i in items], encode_cursor(last)

    # -- writes ------------------------------------------------------------------------------
    def create(self, rec: ConnectionRecord) -> ConnectionRecord:
        self.table.put(self._item(rec), condition="attribute_not_exists(pk)")
        return rec

    def save(self, rec: ConnectionRecord, *, expected_version: int) -> ConnectionRecord:
        """Compare-and-set: writes `rec` with version+1 only if the stored version is `expected_version`.

        Raises `ConditionFailed` (a `Conflict`) when another writer got there first.
        """
        new = rec.model_copy(update={"version": expected_version + 1})
        self.table.put(self._item(new), condition="version = :v", values={":v": expected_version})
        return new

    def delete(self, connection_id: str) -> None:
        self.table.delete(*self.key(connection_id))
