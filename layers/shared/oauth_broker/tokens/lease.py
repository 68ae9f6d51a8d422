"""Per-connection refresh leases: the only thing that serialises refreshes across Lambda containers.

A lease is one item next to the connection (`CON#{id}` / `LEASE#REFRESH`) written with a
conditional put: it is taken when absent or expired, renewed and released only by its holder.
A holder that dies simply stops renewing; its lease expires `seconds` later and the next caller
takes it over. Expiry is compared on epoch milliseconds from the callers' clocks (Lambda hosts
are NTP-synchronised; the lease is seconds long, so clock skew of milliseconds is harmless).
The `ttl` attribute lets DynamoDB delete abandoned leases.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from oauth_broker.store.table import ConditionFailed, Table
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock

LEASE_SK = "LEASE#REFRESH"
# Abandoned lease items are removed by DynamoDB's TTL well after they stopped mattering.
_TTL_GRACE_SECONDS = 3600


def new_holder_id() -> str:
    return f"lease_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Lease:
    connection_id: str
    holder: str
    expires_at_ms: int


class LeaseStore:
    def __init__(self, table: Table, *, clock: Clock = SYSTEM_CLOCK):
        self.table = table
        self.clock = clock

    @staticmethod
    def key(connection_id: str) -> tuple[str, str]:
        return f"CON#{connection_id}", LEASE_SK

    def _now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def _item(self, connection_id: str, holder: str, seconds: float) -> tuple[dict[str, object], int]:
        pk, sk = self.key(connection_id)
        now_ms = self._now_ms()
        until = now_ms + int(seconds * 1000)
        item: dict[str, object] = {
            "pk": pk,
            "sk": sk,
            "holder": holder,
            "lease_until": until,
            "ttl": until // 1000 + _TTL_GRACE_SECONDS,
        }
        return item, now_ms

    def acquire(self, connection_id: str, holder: str, seconds: float) -> Lease | None:
        """Takes the lease if nobody holds it or its holder's lease has expired; None otherwise."""
        item, now_ms = self._item(connection_id, holder, seconds)
        try:
            self.table.put(
                item,
                condition="attribute_not_exists(pk) OR lease_until < :now OR holder = :me",
                values={":now": now_ms, ":me": holder},
            )
        except ConditionFailed:
            return None
        return Lease(connection_id, holder, int(str(item["lease_until"])))

    def renew(self, connection_id: str, holder: str, seconds: float) -> bool:
        """Pushes the expiry out again; False when the lease is no longer ours (it expired and
        another caller took it over)."""
        item, _ = self._item(connection_id, holder, seconds)
        try:
            self.table.put(item, condition="holder = :me", values={":me": holder})
        except ConditionFailed:
            return False
        return True

    def release(self, connection_id: str, holder: str) -> bool:
        """Deletes the lease if it is still ours. Never raises: an unreleased lease just expires."""
        try:
            self.table.delete(*self.key(connection_id), condition="holder = :me", values={":me": holder})
        except ConditionFailed:
            return False
        except Exception:  # a failed release costs the next caller one lease period, nothing more
            return False
        return True

    def current(self, connection_id: str) -> Lease | None:
        """The lease as stored (expired or not), or None."""
        item = self.table.get(*self.key(connection_id))
        if item is None:
            return None
        return Lease(connection_id, str(item["holder"]), int(item["lease_until"]))

    def delete(self, connection_id: str) -> None:
        """Removes the lease whoever holds it (the connection is being deleted)."""
        self.table.delete(*self.key(connection_id))
