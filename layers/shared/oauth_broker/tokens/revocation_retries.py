"""Revocation that never gives up (too early): the tombstones a disconnect leaves when the provider
could not take its revocation (`store.tombstones`), retried by the scheduled sweep.

- `leave_tombstone`: at the disconnect (`tokens.revocation`), the connection's encrypted refresh
  token, its provider and client, one attempt made, the next one a minute later.
- `RevocationRetrier.run`: in each sweep, at most `MAX_PER_RUN` due tombstones (one index Query),
  each claimed with a conditional update (two sweeps never try one at once), then one revocation
  call (`ConnectionRevoker.retry_revocation`). Backoff between attempts: 1 min, 5 min, 30 min,
  2 h, 6 h, then every 12 h.
- The provider accepts (or says the token is already dead: 400 `invalid_token`, `invalid_grant`),
  or a live connection of the tenant holds the grant by now (the account was connected again:
  revoking would cut it): the tombstone is deleted, `connection.revocation_completed` is emitted
  (`outcome`, `attempts`) and audited (actor `system`).
- After `MAX_ATTEMPTS`, or when the next attempt would fall after the 30 days: the tombstone is
  deleted and a final `connection.revocation_failed` (`final: true`) emitted and audited.

Events carry the connection's allow-listed fields as the tombstone remembers them, never a token.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker import audit
from oauth_broker.events.publisher import DETAIL_FIELDS
from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.store.tombstones import Tombstone, TombstoneStore
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.refresher import TokenRefresher, token_refresher
from oauth_broker.tokens.revocation import KEPT_SHARED_GRANT, ConnectionRevoker

if TYPE_CHECKING:
    from oauth_broker.services import Services

__all__ = [
    "BACKOFF_SECONDS",
    "MAX_ATTEMPTS",
    "MAX_PER_RUN",
    "RetryReport",
    "RevocationRetrier",
    "leave_tombstone",
    "retry_delay",
]

BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600)
STEADY_SECONDS = 12 * 3600  # after the backoff steps
MAX_ATTEMPTS = 60  # the 5 steps and 55 more 12 h apart: ~28 days, within the 30-day retention
MAX_PER_RUN = 100  # tombstones tried per sweep at most; the rest wait for the next run
ATTEMPT_SECONDS = 5.0  # one provider call's budget
DONE = frozenset({"revoked", "already_invalid", "no_token", KEPT_SHARED_GRANT})
# What a tombstone keeps of its connection, for its events and the shared-grant check.
SNAPSHOT_FIELDS = frozenset(DETAIL_FIELDS) | {"created_at", "updated_at"}


def retry_delay(attempts: int) -> int:
    """Seconds from the `attempts`-th attempt to the next one."""
    return BACKOFF_SECONDS[attempts - 1] if 1 <= attempts <= len(BACKOFF_SECONDS) else STEADY_SECONDS


def leave_tombstone(
    services: Services, rec: ConnectionRecord, *, now: int, error: str | None, announce: bool = True
) -> Tombstone:
    """The tombstone of `rec`'s refresh token, whose revocation just failed (attempt 1); with
    `announce=False` (a connection never announced) its outcome is audited but not published."""
    if not rec.enc_refresh_token:
        raise ValueError("no refresh token to retry")
    tombstone = Tombstone(
        tenant=rec.tenant,
        connection_id=rec.id,
        provider=rec.provider,
        oauth_client_id=rec.oauth_client_id,
        provider_client_id=rec.provider_client_id,
        account_sub=rec.account_sub,
        enc_token=rec.enc_refresh_token,
        token_type_hint="refresh_token",
        attempts=1,
        next_attempt_at=now + retry_delay(1),
        last_error=error,
        created_at=rfc3339(now),
        created_epoch=now,
        connection=rec.model_dump(mode="json", include=set(SNAPSHOT_FIELDS)),
        announce=announce,
    )
    return TombstoneStore(services.table).put(tombstone)


def remembered_connection(tombstone: Tombstone) -> ConnectionRecord:
    """The deleted connection as its tombstone remembers it (no token)."""
    record: ConnectionRecord = ConnectionRecord.model_validate(
        {
            **tombstone.connection,
            "id": tombstone.connection_id,
            "tenant": tombstone.tenant,
            "provider": tombstone.provider,
            "oauth_client_id": tombstone.oauth_client_id,
            "provider_client_id": tombstone.provider_client_id,
            "account_sub": tombstone.account_sub,
        }
    )
    return record


@dataclass
class RetryReport:
    due: int = 0
    completed: int = 0
    rescheduled: int = 0
    gave_up: int = 0
    skipped: int = 0  # claimed by another sweep, gone, or not due after all
    queries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RevocationRetrier:
    def __init__(
        self,
        services: Services,
        refresher: TokenRefresher | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        limit: int = MAX_PER_RUN,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        self.services = services
        self.refresher = refresher or token_refresher(services)
        self.clock = clock
        self.limit = max(1, limit)
        self.max_attempts = max(1, max_attempts)
        self.store = TombstoneStore(services.table)
        self.revoker = ConnectionRevoker(services, self.refresher, clock=clock, max_attempts=1)

    def run(self, *, stop_at: float, report: RetryReport | None = None) -> RetryReport:
        """Retries the due tombstones while `clock.monotonic()` is before `stop_at`."""
        report = report or RetryReport()
        now = int(self.clock.time())
        due = self.store.due(now=now, limit=self.limit)
        report.queries += 1
        report.due += len(due)
        for tenant, connection_id in due:
            if self.clock.monotonic() + ATTEMPT_SECONDS > stop_at:
                break
            try:
                result = self.retry(tenant, connection_id, now=now, stop_at=stop_at)
            except Exception as exc:  # one bad tombstone must not stop the others; it stays due
                logger.warning(
                    "revocation retry raised",
                    extra={"connection_id": connection_id, "error_type": type(exc).__name__},
                )
                result = "skipped"
            setattr(report, result, getattr(report, result) + 1)
        if report.due:
            logger.info("revocation retries", extra=report.as_dict())
        return report

    def retry(self, tenant: str, connection_id: str, *, now: int, stop_at: float) -> str:
        """One tombstone: `completed`, `rescheduled`, `gave_up` or `skipped`."""
        seen = self.store.get(tenant, connection_id)
        if seen is None or seen.next_attempt_at > now:
            return "skipped"
        attempt = seen.attempts + 1
        # the claim moves the next attempt on already: a sweep that dies mid-way retries it later
        claimed = self.store.claim(seen, next_attempt_at=now + retry_delay(attempt))
        if claimed is None:
            return "skipped"
        rec = remembered_connection(claimed)
        deadline = min(stop_at, self.clock.monotonic() + ATTEMPT_SECONDS)
        outcome, error = self.revoker.retry_revocation(
            rec, claimed.enc_token, claimed.token_type_hint, deadline=deadline
        )
        if outcome in DONE:
            self.store.delete(tenant, connection_id)
            self._finish(rec, claimed, "revocation_completed", outcome=outcome, error=None)
            return "completed"
        error = error or outcome
        if (
            outcome == "not_supported"  # the provider has no revocation endpoint (any more)
            or attempt >= self.max_attempts
            or now + retry_delay(attempt) >= claimed.expires_at
        ):
            self.store.delete(tenant, connection_id)
            self._finish(rec, claimed, "revocation_failed", outcome="failed", error=error)
            return "gave_up"
        self.store.record_error(claimed, error)
        logger.info(
            "revocation retry failed; rescheduled",
            extra={
                "connection_id": connection_id,
                "tenant": tenant,
                "attempts": attempt,
                "error": error,
                "next_attempt_at": claimed.next_attempt_at,
            },
        )
        return "rescheduled"

    def _finish(
        self, rec: ConnectionRecord, tombstone: Tombstone, event: str, *, outcome: str, error: str | None
    ) -> None:
        completed = event == "revocation_completed"
        extra: dict[str, Any] = {"outcome": outcome, "attempts": tombstone.attempts}
        if completed:
            extra["revoked"] = outcome != KEPT_SHARED_GRANT
        else:
            extra.update(error=error, final=True)
        (logger.info if completed else logger.warning)(
            "revocation retry finished",
            extra={"connection_id": rec.id, "tenant": rec.tenant, "event": event, **extra},
        )
        if tombstone.announce:
            self.services.publisher.publish(event, rec, **extra)
        audit.record_system(
            self.services,
            tenant=rec.tenant,
            action=f"connection.{event}",
            resource_type="connection",
            resource_id=rec.id,
            outcome="succeeded" if completed else "failed",
            details={
                "provider": rec.provider,
                "revocation": outcome,
                "revocation_error": error,
                "attempts": tombstone.attempts,
            },
        )
