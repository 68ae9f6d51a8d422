"""When a connection is next due in the background: a refresh ahead of expiry, or a liveness refresh.

One function, `RefreshSchedule.due_at`, decides it. `ConnectionStore` writes its answer as the
sparse `ByRefreshDue` index's `due_at` whenever it writes the item, and the refresher
(`tokens.refresher.TokenRefresher.refresh_if_due`) asks it again when the sweep hands it a
connection, so the index and the decision never disagree.

A connection is *busy at* a moment when it was used (`last_used_at`, else `created_at`: a
connection just made is about to be used) within `active_within` seconds before it. With
`ahead = expires_at - refresh_ahead` (the refresh-ahead time of its current token)::

    due_at = ahead                                         if busy at `ahead`
           = max(ahead, last_proof + liveness_interval)    otherwise (idle)

`last_proof` is the last time the provider accepted the grant (`last_refreshed_at`, else
`created_at`). Being busy is judged at `ahead`, not at the moment the item is written, so the
answer depends on the item alone: a connection used for the last time at t keeps its token
refreshed ahead until t + active_within, then falls back to one liveness refresh a day (an idle
connection's access token is refreshed on demand, at its first use). Recording a use
(`ConnectionStore.record_use`) moves `due_at` back to `ahead` in the same write.

Not refreshable (not active/partial, no refresh token, no expiry): `None` (not in the index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.timeutil import parse_rfc3339

__all__ = [
    "DEFAULT_ACTIVE_WITHIN_SECONDS",
    "DEFAULT_LIVENESS_SECONDS",
    "USE_RECORD_INTERVAL_SECONDS",
    "RefreshSchedule",
]

DEFAULT_ACTIVE_WITHIN_SECONDS = 24 * 3600
DEFAULT_LIVENESS_SECONDS = 24 * 3600  # a provider whose catalog entry names no interval
# `last_used_at` is written at most this often per connection
USE_RECORD_INTERVAL_SECONDS = 3600

_REFRESHABLE = (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)


def _epoch(value: str | None) -> int | None:
    return int(parse_rfc3339(value)) if value else None


@dataclass(frozen=True)
class RefreshSchedule:
    """`refresh_ahead`: seconds before expiry a busy connection's token is refreshed;
    `active_within`: seconds after its last use a connection counts as busy; `liveness_for`:
    provider key -> seconds between an idle connection's liveness refreshes."""

    refresh_ahead: int = 300
    active_within: int = DEFAULT_ACTIVE_WITHIN_SECONDS
    liveness_for: Callable[[str], int] = lambda _provider: DEFAULT_LIVENESS_SECONDS

    @staticmethod
    def last_active(rec: ConnectionRecord) -> int:
        used = rec.last_used_at
        return used if used is not None else int(parse_rfc3339(rec.created_at))

    def busy_at(self, rec: ConnectionRecord, moment: int) -> bool:
        return self.last_active(rec) + self.active_within >= moment

    def due_at(self, rec: ConnectionRecord) -> int | None:
        """The connection's next background refresh (epoch seconds), or None: never."""
        if rec.status not in _REFRESHABLE or not rec.enc_refresh_token or rec.expires_at is None:
            return None
        ahead = rec.expires_at - self.refresh_ahead
        if self.busy_at(rec, ahead):
            return ahead
        proof = _epoch(rec.last_refreshed_at) or int(parse_rfc3339(rec.created_at))
        return max(ahead, proof + self.liveness_for(rec.provider))
