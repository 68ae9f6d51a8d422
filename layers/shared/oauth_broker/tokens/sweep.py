"""The scheduled refresh sweep: refreshes every connection whose token expires before the next run.

It reads the sparse `ByRefreshDue` index (KEYS_ONLY; `due_pk` = `DUE#0..7`, `due_at` = expiry
minus `refresh_ahead_seconds`) with one Query per shard and page: never a Scan, so its reads
grow with the number of due connections, not with the table. Due connections are refreshed
most-urgent first by a bounded pool of threads, each through `TokenRefresher.refresh_if_due`
(lease, consistent re-read, token request, compare-and-set). The sweep stops starting new
refreshes `reserve_seconds` before the Lambda deadline; what it did not reach stays due and is
picked up by the next run. In the time left it discards the connect results that nobody confirmed
within 10 minutes (the index's `PENDING` partition), revoking the grants they obtained.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.observability import logger
from oauth_broker.store.connections import DUE_SHARDS
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.refresher import RefreshOutcome, TokenRefresher, token_refresher

if TYPE_CHECKING:
    from oauth_broker.services import Services

DUE_INDEX = "ByRefreshDue"
DEFAULT_CONCURRENCY = 24  # token endpoints answer in ~150 ms: 24 in flight ~ 150 refreshes/s
DEFAULT_RESERVE_SECONDS = 10.0  # stop starting refreshes this long before the deadline
DEFAULT_ITEM_BUDGET_SECONDS = 20.0  # one connection's refresh, retries included
PAGE_SIZE = 1000


def is_scheduled_event(event: Mapping[str, Any]) -> bool:
    """An EventBridge schedule's event (the sweep), as opposed to a direct invocation."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


@dataclass
class SweepReport:
    due: int = 0
    refreshed: int = 0
    failed: int = 0
    needs_reauth: int = 0
    skipped: int = 0
    remaining: int = 0  # due but not tried before the deadline: left for the next run
    queries: int = 0  # index Query pages read
    discarded: int = 0  # connect results not confirmed in time: discarded, their grants revoked
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, int]:
        """The counts the refresh function publishes as CloudWatch metrics."""
        return {
            "refreshed": self.refreshed,
            "failed": self.failed,
            "needs_reauth": self.needs_reauth,
            "skipped": self.skipped,
            "remaining": self.remaining,
            "discarded": self.discarded,
        }


class RefreshSweep:
    def __init__(
        self,
        services: Services,
        refresher: TokenRefresher | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        concurrency: int = DEFAULT_CONCURRENCY,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
        item_budget_seconds: float = DEFAULT_ITEM_BUDGET_SECONDS,
        page_size: int = PAGE_SIZE,
    ):
        self.services = services
        self.refresher = refresher or token_refresher(services)
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.reserve_seconds = reserve_seconds
        self.item_budget_seconds = item_budget_seconds
        self.page_size = page_size
        config = services.config
        self.interval = config.sweep_interval_seconds
        # due in the index means: expires within refresh_ahead + interval
        self.horizon = config.refresh_ahead_seconds + config.sweep_interval_seconds

    def due_connections(self, until: int, report: SweepReport) -> list[tuple[int, str]]:
        """(due_at, connection id) of every indexed connection due by `until`, most urgent first."""
        table = self.refresher.connections.table
        due: list[tuple[int, str]] = []
        for shard in range(DUE_SHARDS):
            start: dict[str, Any] | None = None
            while True:
                items, start = table.query(
                    "due_pk = :p AND due_at <= :t",
                    {":p": f"DUE#{shard}", ":t": until},
                    index=DUE_INDEX,
                    limit=self.page_size,
                    start_key=start,
                )
                report.queries += 1
                for item in items:
                    pk = str(item.get("pk", ""))
                    if pk.startswith("CON#"):
                        due.append((int(item.get("due_at", 0)), pk.removeprefix("CON#")))
                if not start:
                    break
        due.sort()
        return due

    def discard_unconfirmed(self, stop_at: float, report: SweepReport) -> None:
        """Connect results nobody confirmed within 10 minutes: discarded, and the grants they
        obtained revoked (`connect.confirmation.discard_expired`), in the time left."""
        from oauth_broker.connect.confirmation import discard_expired

        discarded, pages = discard_expired(
            self.services,
            now=int(self.clock.time()),
            time_left=lambda: stop_at - self.clock.monotonic(),
        )
        report.discarded += discarded
        report.queries += pages

    def run(self, *, deadline: float) -> SweepReport:
        """One sweep; `deadline` is a `clock.monotonic()` value (the Lambda's end)."""
        report = SweepReport()
        until = int(self.clock.time()) + self.interval
        due = self.due_connections(until, report)
        report.due = len(due)
        stop_at = deadline - self.reserve_seconds
        lock = threading.Lock()
        position = 0

        def next_id() -> str | None:
            nonlocal position
            with lock:
                if position >= len(due):
                    return None
                if self.clock.monotonic() >= stop_at:
                    report.stopped_early = True
                    return None
                connection_id = due[position][1]
                position += 1
                return connection_id

        def count(outcome: RefreshOutcome) -> None:
            with lock:
                if outcome == RefreshOutcome.REFRESHED:
                    report.refreshed += 1
                elif outcome == RefreshOutcome.NEEDS_REAUTH:
                    report.needs_reauth += 1
                elif outcome == RefreshOutcome.FAILED:
                    report.failed += 1
                elif outcome == RefreshOutcome.DEFERRED:
                    # too little time left for this one: the deadline stopped the sweep
                    report.remaining += 1
                    report.stopped_early = True
                else:
                    report.skipped += 1

        def worker() -> None:
            while (connection_id := next_id()) is not None:
                item_deadline = min(deadline, self.clock.monotonic() + self.item_budget_seconds)
                try:
                    outcome = self.refresher.refresh_if_due(
                        connection_id, horizon=self.horizon, deadline=item_deadline
                    )
                except Exception as exc:  # one bad item must not end the sweep
                    logger.error(
                        "sweep: refresh raised",
                        extra={"connection_id": connection_id, "error_type": type(exc).__name__},
                    )
                    outcome = RefreshOutcome.FAILED
                count(outcome)

        workers = min(self.concurrency, len(due))
        if workers:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
                # Each worker runs in a copy of the invocation's context (contextvars: what
                # the local runtime and observability tools key on survives the thread hop).
                futures = [pool.submit(contextvars.copy_context().run, worker) for _ in range(workers)]
                for future in futures:
                    future.result()
        report.remaining += len(due) - position
        self.discard_unconfirmed(stop_at, report)
        logger.info("sweep finished", extra=report.as_dict())
        return report
