"""Each security event acted on once: its `jti` is claimed with a conditional put before anything
is changed (`RISCJTI#<jti>`, kept `CLAIM_TTL_DAYS` by DynamoDB's TTL: far past the 1 hour a token
is accepted for, so a replay inside that window always meets its claim).

A delivery whose changes failed half-way releases its claim, so the transmitter's retry redoes
them (every change is a compare-and-set to a target state: redoing one that landed is a no-op).
"""

from __future__ import annotations

import time
from typing import Any

from oauth_broker.audit import instant
from oauth_broker.store.table import ConditionFailed, Table

__all__ = ["CLAIM_TTL_DAYS", "claim_event", "claim_key", "release_event"]

CLAIM_TTL_DAYS = 7


def claim_key(jti: str) -> tuple[str, str]:
    return f"RISCJTI#{jti}", "RISCJTI"


def claim_event(table: Table, jti: str, *, audience: str, now: float | None = None) -> bool:
    """True when this delivery is the first with `jti` (it now owns the event); False: a replay."""
    moment = time.time() if now is None else now
    pk, sk = claim_key(jti)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "audience": audience,
        "received_at": instant(moment),
        "ttl": int(moment) + CLAIM_TTL_DAYS * 86400,
    }
    try:
        table.put(item, condition="attribute_not_exists(pk)")
    except ConditionFailed:
        return False
    return True


def release_event(table: Table, jti: str) -> None:
    """Forgets the claim of an event whose changes could not all be made (best effort)."""
    table.delete(*claim_key(jti))
