"""A connection's concurrency level: at most N of its provider requests in flight at once, across
every Lambda container, as a DynamoDB semaphore of slot leases.

Slot `n` of a semaphore is the item `SEM#{connection id}` / `SLOT#{n}` (0 <= n < level). A caller
takes a slot with one conditional put that succeeds only when the slot is free or its lease has
expired (`attribute_not_exists(pk) OR lease_until < :now`); it tries the slots in a random order,
so callers spread over them, and gives up with 429 `rate_limited` (`Retry-After`) when all are
taken. It releases the slot with a delete conditioned on still being the holder, in a `finally`.
A container that dies holding a slot never releases it: the lease (the function's remaining time
plus a margin) runs out and the next caller's put takes the slot over. The `ttl` attribute lets
DynamoDB delete abandoned slots; expiry is checked in the condition, since TTL deletion is lazy.

A connection that borrows (`borrow_concurrency_from`) uses its lender's semaphore and level.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from oauth_broker.errors import RateLimited
from oauth_broker.observability import metric
from oauth_broker.store.table import ConditionFailed, Table
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock

__all__ = ["ConcurrencySemaphore", "SlotLease", "semaphore_key"]

MAX_LEVEL = 25
_TTL_GRACE_SECONDS = 3600
RETRY_AFTER_SECONDS = 1


def semaphore_key(connection_id: str) -> str:
    return f"SEM#{connection_id}"


@dataclass(frozen=True)
class SlotLease:
    key: str
    slot: int
    holder: str
    lease_until_ms: int


class ConcurrencySemaphore:
    def __init__(
        self,
        table: Table,
        *,
        clock: Clock = SYSTEM_CLOCK,
        shuffle: Callable[[list[int]], None] = random.shuffle,
    ):
        self.table = table
        self.clock = clock
        self.shuffle = shuffle

    @staticmethod
    def slot_key(key: str, slot: int) -> tuple[str, str]:
        return key, f"SLOT#{slot}"

    def acquire(self, owner_id: str, level: int, *, lease_seconds: float) -> SlotLease:
        """A slot of `owner_id`'s semaphore (the connection, or its lender), or `RateLimited`."""
        if not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"a concurrency level is 1..{MAX_LEVEL}, not {level}")
        key = semaphore_key(owner_id)
        holder = f"slot_{uuid.uuid4().hex}"
        order = list(range(level))
        self.shuffle(order)
        for slot in order:
            now_ms = int(self.clock.time() * 1000)
            until = now_ms + int(max(lease_seconds, 1.0) * 1000)
            pk, sk = self.slot_key(key, slot)
            item = {
                "pk": pk,
                "sk": sk,
                "holder": holder,
                "lease_until": until,
                "ttl": until // 1000 + _TTL_GRACE_SECONDS,
            }
            try:
                self.table.put(
                    item,
                    condition="attribute_not_exists(pk) OR lease_until < :now",
                    values={":now": now_ms},
                )
            except ConditionFailed:
                continue
            return SlotLease(key, slot, holder, until)
        metric("concurrency_limited")
        raise RateLimited(
            f"the connection already has {level} request{'s' if level != 1 else ''} in flight "
            f"(its concurrency level); retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            concurrency_level=level,
        )

    def release(self, lease: SlotLease) -> bool:
        """Frees the slot if it is still ours. Never raises: an unreleased slot just expires."""
        try:
            self.table.delete(
                *self.slot_key(lease.key, lease.slot), condition="holder = :me", values={":me": lease.holder}
            )
        except ConditionFailed:
            return False
        except Exception:  # a failed release costs this connection one slot for one lease period
            return False
        return True
