"""Revocation tombstones: a disconnect whose revocation the provider could not take (5xx, timeout,
network) leaves one, and the sweep retries it until the provider accepts or 30 days pass.

`pk` = `REVOKE#{tenant}`, `sk` = `CON#{connection id}`: the tenant's pending revocations are one
Query (`GET /v1/revocations`), and a prefix of their own keeps the functions' IAM narrow (the
refresh function writes `REVOKE#` items, not the tenant's settings or OAuth clients).

The token stays what it was on the connection: the envelope blob (`enc_token`), encrypted for the
context (tenant, connection id, `refresh_token`), so only the refresh function can decrypt it,
under the same context as before. Nothing else secret is kept; `connection` is the allow-listed
snapshot its events are built from.

Due ones are found without a Scan and without an index of their own: the sparse `ByRefreshDue`
index (KEYS_ONLY) already holds connections (`DUE#0..7`) and pending connect results (`PENDING`);
tombstones take the partition `REVOKE`, `due_at` = the next attempt. One partition is enough: a
tombstone exists only while a provider is failing, and the sweep reads at most a bounded page of
them per run. `ttl` (30 days) is DynamoDB's backstop; the sweep gives up, with a final event,
before it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import Field

from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.models import Item
from oauth_broker.store.table import ConditionFailed, Table

__all__ = ["DUE_INDEX", "DUE_PARTITION", "RETENTION_SECONDS", "Tombstone", "TombstoneStore"]

DUE_INDEX = "ByRefreshDue"
DUE_PARTITION = "REVOKE"
RETENTION_SECONDS = 30 * 24 * 3600


def tombstone_partition(tenant: str) -> str:
    return f"REVOKE#{tenant}"


class Tombstone(Item):
    """A revocation still owed to the provider for a deleted connection."""

    tenant: str
    connection_id: str
    provider: str
    oauth_client_id: str
    provider_client_id: str | None = None
    account_sub: str | None = None
    # the connection's envelope blob, encrypted for (tenant, connection_id, token_type_hint)
    enc_token: str = Field(repr=False)
    token_type_hint: str = "refresh_token"
    attempts: int = 1  # revocation rounds made (the disconnect's own is the first)
    next_attempt_at: int  # epoch seconds
    last_error: str | None = None  # a stable code (`http_503`, `timeout`, ...), never a message
    created_at: str
    created_epoch: int
    # the allow-listed connection fields its events carry (`events.publisher.DETAIL_FIELDS`)
    connection: dict[str, Any] = Field(default_factory=dict)
    # False for a connection that was never announced (pending): its outcome is audited, not published
    announce: bool = True

    @property
    def expires_at(self) -> int:
        return self.created_epoch + RETENTION_SECONDS


class TombstoneStore:
    def __init__(self, table: Table):
        self.table = table

    @staticmethod
    def key(tenant: str, connection_id: str) -> tuple[str, str]:
        return tombstone_partition(tenant), f"CON#{connection_id}"

    def put(self, tombstone: Tombstone) -> Tombstone:
        pk, sk = self.key(tombstone.tenant, tombstone.connection_id)
        self.table.put(
            {
                "pk": pk,
                "sk": sk,
                "due_pk": DUE_PARTITION,
                "due_at": tombstone.next_attempt_at,
                "ttl": tombstone.expires_at,
                **tombstone.to_item(),
            }
        )
        return tombstone

    def get(self, tenant: str, connection_id: str) -> Tombstone | None:
        item = self.table.get(*self.key(tenant, connection_id))
        return Tombstone.from_item(item) if item else None

    def due(self, *, now: int, limit: int) -> list[tuple[str, str]]:
        """(tenant, connection id) of up to `limit` tombstones whose next attempt is due by `now`,
        the longest-waiting first: one Query of the index."""
        items, _ = self.table.query(
            "due_pk = :p AND due_at <= :now",
            {":p": DUE_PARTITION, ":now": now},
            index=DUE_INDEX,
            limit=limit,
        )
        found = []
        for item in items:
            pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
            if pk.startswith("REVOKE#") and sk.startswith("CON#"):
                found.append((pk.removeprefix("REVOKE#"), sk.removeprefix("CON#")))
        return found

    def claim(self, tombstone: Tombstone, *, next_attempt_at: int) -> Tombstone | None:
        """Counts one more attempt and moves the next one to `next_attempt_at`, only if nobody else
        did since `tombstone` was read (two sweeps never call the provider for one tombstone at
        once); None when somebody did, or it is gone."""
        pk, sk = self.key(tombstone.tenant, tombstone.connection_id)
        try:
            item = self.table.update(
                pk,
                sk,
                "SET attempts = :next, next_attempt_at = :at, due_at = :at",
                condition="attempts = :seen",
                values={":next": tombstone.attempts + 1, ":at": next_attempt_at, ":seen": tombstone.attempts},
            )
        except ConditionFailed:
            return None
        claimed: Tombstone = Tombstone.from_item(item)
        return claimed

    def record_error(self, tombstone: Tombstone, error: str) -> None:
        pk, sk = self.key(tombstone.tenant, tombstone.connection_id)
        # deleted or claimed again meanwhile: its own outcome is recorded there
        with contextlib.suppress(ConditionFailed):
            self.table.update(
                pk,
                sk,
                "SET last_error = :e",
                condition="attempts = :seen",
                values={":e": error, ":seen": tombstone.attempts},
                return_values="NONE",
            )

    def delete(self, tenant: str, connection_id: str) -> None:
        self.table.delete(*self.key(tenant, connection_id))

    def list(
        self, tenant: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Tombstone], str | None]:
        """One page of the tenant's pending revocations (by connection id) and the next cursor."""
        partition = tombstone_partition(tenant)
        start = decode_cursor(cursor, partition_attr="pk", partition_value=partition)
        items, last = self.table.query("pk = :p", {":p": partition}, limit=limit, start_key=start)
        return [Tombstone.from_item(i) for i in items], encode_cursor(last)
