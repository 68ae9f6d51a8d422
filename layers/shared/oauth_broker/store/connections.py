"""Connections: one item per grant, readable by id, by owner and by tenant; CAS on `version`."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.errors import NotFound
from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import Table

DUE_SHARDS = 8
# `status_reason` of connections revoked because an admin disabled their provider (restorable).
PROVIDER_DISABLED = "provider_disabled"
# A filter expression's IN takes at most 100 operands.
MAX_FILTER_CLIENTS = 100
REFRESHABLE = (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)


def holds_live_grant(rec: ConnectionRecord) -> bool:
    """Whether the connection relies on its grant at the provider: `active` or `partial`, or
    `revoked` only because its provider is disabled (it keeps its tokens for re-enabling). Not
    `pending` (a result nobody confirmed is never a reason to keep a grant alive) nor
    `needs_reauth` (the provider already refuses its grant)."""
    if rec.status in REFRESHABLE:
        return True
    return rec.status == ConnectionStatus.REVOKED and rec.status_reason == PROVIDER_DISABLED


def _shares_grant(
    other: ConnectionRecord, rec: ConnectionRecord, clients: list[str], *, include_self: bool
) -> bool:
    return (
        (include_self or other.id != rec.id)
        and other.tenant == rec.tenant
        and other.account_sub == rec.account_sub
        and other.oauth_client_id in clients
        and holds_live_grant(other)
    )


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

    def grant_siblings(
        self, rec: ConnectionRecord, *, oauth_client_ids: Iterable[str] = (), include_self: bool = False
    ) -> list[ConnectionRecord]:
        """The tenant's other connections that hold the same grant at the provider as `rec`: the
        same account (`account_sub`) through the same OAuth client (`rec.oauth_client_id`, or one
        of `oauth_client_ids`: the tenant's other clients with the same client id at the provider),
        and live (`holds_live_grant`: active or partial, or revoked only while its provider is
        disabled).
        With `include_self`, the stored connection `rec.id` counts too. Empty without an
        `account_sub`.

        One Query of the ByTenant index per page, filtered; the index is eventually consistent, so
        every match is confirmed with a consistent read of its item.
        """
        if not rec.account_sub:
            return []
        others = sorted(set(oauth_client_ids) - {rec.oauth_client_id})
        clients = [rec.oauth_client_id, *others][:MAX_FILTER_CLIENTS]
        values: dict[str, Any] = {
            ":p": f"TENANT#{rec.tenant}#CON",
            ":sub": rec.account_sub,
            ":active": ConnectionStatus.ACTIVE.value,
            ":partial": ConnectionStatus.PARTIAL.value,
            ":revoked": ConnectionStatus.REVOKED.value,
            ":disabled": PROVIDER_DISABLED,
            **{f":c{i}": client for i, client in enumerate(clients)},
        }
        names = {"#status": "status", "#reason": "status_reason"}
        not_self = ""
        if not include_self:
            values[":id"], names["#id"], not_self = rec.id, "id", " AND #id <> :id"
        in_clients = ", ".join(f":c{i}" for i in range(len(clients)))
        items = self.table.query_all(
            "tenant_pk = :p",
            values,
            index="ByTenant",
            names=names,
            filter_expression=(
                f"account_sub = :sub{not_self} AND oauth_client_id IN ({in_clients})"
                " AND (#status IN (:active, :partial) OR (#status = :revoked AND #reason = :disabled))"
            ),
        )
        siblings: list[ConnectionRecord] = []
        for item in items:
            current = self.get(str(item["id"]))
            if current is not None and _shares_grant(current, rec, clients, include_self=include_self):
                siblings.append(current)
        return siblings

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
