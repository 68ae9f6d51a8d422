"""The scheduled refresh sweep: finds every connection due for a refresh before the next run.

It reads the sparse `ByRefreshDue` index (KEYS_ONLY; `due_pk` = `DUE#0..7`, `due_at` = the next
refresh-ahead or liveness time, `store.schedule`) with one Query per shard and page: never a
Scan, so its reads grow with the number of due connections, not with the table.

Where the deployment has a work queue (`REFRESH_QUEUE_URL`, always in AWS) the sweep only
ENUMERATES: each due connection becomes one `refresh` job, sent ten per `SendMessageBatch` by a
few sender threads while the next index page is read (`enqueue`); the `refresh` function consumes
the queue through an SQS event source mapping (`tokens.queue_worker`), so refreshes fan out over
as many function instances as the mapping's maximum concurrency allows. Without a queue (tests, a
bare local run) `run` refreshes in-process, most-urgent first, with a bounded pool of threads,
each through `TokenRefresher.refresh_if_due` (lease, consistent re-read, token request,
compare-and-set).

Either way the sweep stops starting work `reserve_seconds` before the Lambda deadline; what it
did not reach stays due and is picked up by the next run. In the time left it discards the connect
results that nobody confirmed within 10 minutes (the index's `PENDING` partition), revoking the
grants they obtained, then retries the due revocation tombstones that disconnects left when the
provider was failing (the index's `REVOKE` partition, `tokens.revocation_retries`), a bounded
number per run, and renews the Gmail push watches due for their daily renewal (the index's
`GMAILWATCH` partition, `gmail_push.watches`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.observability import logger
from oauth_broker.store.connections import DUE_SHARDS
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.queue import BATCH, WorkQueue, refresh_job, work_queue
from oauth_broker.tokens.refresher import RefreshOutcome, TokenRefresher, token_refresher

if TYPE_CHECKING:
    from oauth_broker.services import Services

DUE_INDEX = "ByRefreshDue"
DEFAULT_CONCURRENCY = 24  # token endpoints answer in ~150 ms: 24 in flight ~ 150 refreshes/s
DEFAULT_RESERVE_SECONDS = 10.0  # stop starting refreshes this long before the deadline
DEFAULT_ITEM_BUDGET_SECONDS = 20.0  # one connection's refresh, retries included
PAGE_SIZE = 1000
SEND_THREADS = 8  # SendMessageBatch calls in flight while the next index page is read


def refresh_horizon(config: Any) -> int:
    """A connection is due when its token expires within this many seconds (the sweep's window:
    refresh ahead, plus the time until the next run)."""
    return int(config.refresh_ahead_seconds + config.sweep_interval_seconds)


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
    enqueued: int = 0  # refresh jobs sent to the work queue (the queue's consumer refreshes them)
    revocations_due: int = 0  # revocation tombstones due (at most a bounded page per run)
    revocations_completed: int = 0  # ... revoked at last (or found dead, or the grant held again)
    revocations_rescheduled: int = 0  # ... failed again: the next attempt is later
    revocations_given_up: int = 0  # ... failed for the last time: a final revocation_failed
    gmail_watches_due: int = 0  # Gmail push watches due for their daily renewal
    gmail_watches_renewed: int = 0
    gmail_watches_stopped: int = 0  # ... whose connection no longer reads the mailbox
    gmail_watches_failed: int = 0  # ... not renewed this time (they stay due)
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        queue: WorkQueue | None = None,
        in_process: bool = False,
    ):
        """`queue`: where to enqueue (default: the deployment's work queue, if any);
        `in_process`: refresh here even where a queue exists (benchmarks, tests)."""
        self.services = services
        self.queue = None if in_process else (queue if queue is not None else work_queue(services))
        self.refresher = refresher or token_refresher(services)
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.reserve_seconds = reserve_seconds
        self.item_budget_seconds = item_budget_seconds
        self.page_size = page_size
        config = services.config
        self.interval = config.sweep_interval_seconds
        # due in the index means: expires within refresh_ahead + interval
        self.horizon = refresh_horizon(config)

    def due_pages(self, until: int, report: SweepReport) -> Iterator[list[tuple[int, str]]]:
        """(due_at, connection id) of the indexed connections due by `until`, one index page at a
        time (one Query per shard and page)."""
        table = self.refresher.connections.table
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
                page = []
                for item in items:
                    pk = str(item.get("pk", ""))
                    if pk.startswith("CON#"):
                        page.append((int(item.get("due_at", 0)), pk.removeprefix("CON#")))
                yield page
                if not start:
                    break

    def due_connections(self, until: int, report: SweepReport) -> list[tuple[int, str]]:
        """(due_at, connection id) of every indexed connection due by `until`, most urgent first."""
        due = [entry for page in self.due_pages(until, report) for entry in page]
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

    def retry_revocations(self, stop_at: float, report: SweepReport) -> None:
        """The disconnects' failed revocations that are due again (`tokens.revocation_retries`),
        in the time left; a failure here never fails the sweep."""
        from oauth_broker.tokens.revocation_retries import RevocationRetrier

        try:
            retried = RevocationRetrier(self.services, self.refresher, clock=self.clock).run(stop_at=stop_at)
        except Exception as exc:  # the tombstones stay due for the next run
            logger.error("sweep: revocation retries failed", extra={"error_type": type(exc).__name__})
            return
        report.queries += retried.queries
        report.revocations_due += retried.due
        report.revocations_completed += retried.completed
        report.revocations_rescheduled += retried.rescheduled
        report.revocations_given_up += retried.gave_up

    def renew_gmail_watches(self, stop_at: float, report: SweepReport) -> None:
        """The Gmail push watches due for their daily renewal (`gmail_push.watches`), in the time
        left; a failure here never fails the sweep (they stay due)."""
        from oauth_broker.gmail_push.watches import watch_service

        try:
            renewed = watch_service(self.services).renew_due(stop_at=stop_at)
        except Exception as exc:
            logger.error("sweep: gmail watch renewals failed", extra={"error_type": type(exc).__name__})
            return
        report.queries += 1
        report.gmail_watches_due += renewed.due
        report.gmail_watches_renewed += renewed.renewed
        report.gmail_watches_stopped += renewed.stopped
        report.gmail_watches_failed += renewed.failed

    def run(self, *, deadline: float) -> SweepReport:
        """One sweep; `deadline` is a `clock.monotonic()` value (the Lambda's end). With a work
        queue it only enqueues (`enqueue`); without one it refreshes in-process."""
        if self.queue is not None:
            return self.enqueue(self.queue, deadline=deadline)
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
        self.retry_revocations(stop_at, report)
        self.renew_gmail_watches(stop_at, report)
        logger.info("sweep finished", extra=report.as_dict())
        return report

    def enqueue(self, queue: WorkQueue, *, deadline: float) -> SweepReport:
        """Enumerates the due connections and sends one `refresh` job per connection to `queue`
        (ten per call, `SEND_THREADS` calls in flight while the next index page is read). What was
        not sent (SQS refused it, or the deadline came first) stays due for the next run."""
        report = SweepReport()
        until = int(self.clock.time()) + self.interval
        stop_at = deadline - self.reserve_seconds

        def send(ids: list[str]) -> int:
            try:
                return queue.send([refresh_job(i) for i in ids])
            except Exception as exc:  # the queue unavailable: these stay due
                logger.error(
                    "sweep: jobs not sent", extra={"count": len(ids), "error_type": type(exc).__name__}
                )
                return len(ids)

        with ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="sweep-send") as pool:
            futures = []
            buffered: list[str] = []  # full batches go out; a shard's last few wait for the next
            for page in self.due_pages(until, report):
                buffered += [connection_id for _, connection_id in page]
                report.due += len(page)
                while len(buffered) >= BATCH:
                    chunk, buffered = buffered[:BATCH], buffered[BATCH:]
                    futures.append(pool.submit(contextvars.copy_context().run, send, chunk))
                if self.clock.monotonic() >= stop_at:
                    report.stopped_early = True  # the index pages not read stay due
                    break
            if buffered:
                futures.append(pool.submit(contextvars.copy_context().run, send, buffered))
            unsent = sum(future.result() for future in futures)
        report.enqueued = report.due - unsent
        report.remaining = unsent
        self.discard_unconfirmed(stop_at, report)
        self.retry_revocations(stop_at, report)
        self.renew_gmail_watches(stop_at, report)
        logger.info("sweep finished", extra=report.as_dict())
        return report
