"""The work queue's consumer: the `refresh` function invoked by its SQS event source mapping.

Each record is one job (`tokens.queue`). Records run concurrently (Powertools'
`AsyncBatchProcessor`, each job on a worker thread: the refresher is synchronous and waits on
token endpoints), and the answer lists the records that failed (`batchItemFailures`; the mapping
has `ReportBatchItemFailures`): SQS deletes the others and redelivers only those after the
visibility timeout, and moves a record that failed `maxReceiveCount` times to the dead-letter
queue.

A record fails when its job could not be done and doing it again may help or must be seen:

- `refresh`: the refresh FAILED (the provider or KMS kept failing; `connection.refresh_failed`
  was published) or was DEFERRED (no time left). Refreshed, needs_reauth and skipped (no longer
  due, someone else's lease, not refreshable) are done.
- `switch` / `reconcile`: any connection that could not be written (it kept changing).
- `gmail_history`: Gmail or EventBridge failed (what was announced is not announced twice).
- a body that is not a job: it never will be (it reaches the dead-letter queue).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from oauth_broker.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from oauth_broker.services import Services

CONCURRENCY = 10  # jobs of one batch in flight at once (the event source's BatchSize is the bound)
ITEM_BUDGET_SECONDS = 20.0  # one connection's refresh, retries included
DEADLINE_MARGIN_SECONDS = 2.0  # answer this long before the function's own timeout
_ID = r"^con_[A-Za-z0-9_-]{1,128}$"


class RefreshJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["refresh"]
    id: str = Field(pattern=_ID)


class SwitchJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["switch"]
    tenant: str = Field(min_length=1, max_length=256)
    provider: str = Field(min_length=1, max_length=128)
    cursor: str | None = Field(default=None, max_length=4096)


class ReconcileJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["reconcile"]
    tenant: str = Field(min_length=1, max_length=256)
    provider: str = Field(min_length=1, max_length=128)
    ids: list[Annotated[str, Field(pattern=_ID)]] = Field(min_length=1, max_length=100)


class GmailHistoryJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["gmail_history"]
    mailbox: str = Field(min_length=3, max_length=320)
    id: str = Field(pattern=_ID)


Job = RefreshJob | SwitchJob | ReconcileJob | GmailHistoryJob
_JOB: TypeAdapter[Job] = TypeAdapter(Annotated[Job, Field(discriminator="kind")])


class JobFailed(Exception):
    """The job's record is reported as a batch item failure (redelivered, alone)."""


@dataclass
class BatchReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.outcomes[name] += n


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


class QueueWorker:
    def __init__(self, services: Services, *, clock_monotonic: Callable[[], float] | None = None):
        from oauth_broker.tokens.refresher import token_refresher
        from oauth_broker.tokens.sweep import refresh_horizon

        self.services = services
        self.refresher = token_refresher(services)
        self.horizon = refresh_horizon(services.config)
        self.monotonic = clock_monotonic or self.refresher.clock.monotonic

    def run(self, job: Job, *, deadline: float, report: BatchReport) -> None:
        if isinstance(job, RefreshJob):
            self._refresh(job, deadline=deadline, report=report)
            return
        if isinstance(job, GmailHistoryJob):
            from oauth_broker.gmail_push.receiver import push_receiver

            item_deadline = min(deadline, self.monotonic() + ITEM_BUDGET_SECONDS)
            receiver = push_receiver(self.services)
            outcome = receiver.continue_watch(job.mailbox, job.id, deadline=item_deadline)
            report.count(f"gmail_{outcome}")
            return
        from oauth_broker.connect import provider_switch

        if isinstance(job, SwitchJob):
            sent = provider_switch.fan_out_page(self.services, job.tenant, job.provider, job.cursor)
            report.count("switch_pages")
            report.count("reconcile_jobs", sent)
            return
        result = provider_switch.reconcile(self.services, job.tenant, job.provider, job.ids)
        report.count("switched", result.changed)
        if result.failed:
            report.count("switch_failed", result.failed)
            raise JobFailed(f"{result.failed} connection(s) kept changing")

    def _refresh(self, job: RefreshJob, *, deadline: float, report: BatchReport) -> None:
        from oauth_broker.tokens.refresher import RefreshOutcome

        item_deadline = min(deadline, self.monotonic() + ITEM_BUDGET_SECONDS)
        outcome = self.refresher.refresh_if_due(job.id, horizon=self.horizon, deadline=item_deadline)
        report.count(str(outcome))
        if outcome in (RefreshOutcome.FAILED, RefreshOutcome.DEFERRED):
            raise JobFailed(f"refresh {outcome}")


def handle_queue_batch(
    services: Services, event: Mapping[str, Any], *, deadline: float
) -> tuple[dict[str, Any], BatchReport]:
    """Runs one SQS batch: (the partial batch response, the batch's counts)."""
    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    worker = QueueWorker(services)
    report = BatchReport()
    stop = deadline - DEADLINE_MARGIN_SECONDS
    pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="queue")

    def job_of(body: str) -> Job:
        try:
            return _JOB.validate_json(body)
        except ValueError:
            report.count("invalid")
            raise JobFailed("not a job") from None

    def run(body: str) -> None:
        job = job_of(body)
        try:
            worker.run(job, deadline=stop, report=report)
        except JobFailed:
            raise
        except Exception as exc:  # the type only: a message may carry data we must not log
            report.count("errors")
            logger.error("queue job raised", extra={"kind": job.kind, "error_type": type(exc).__name__})
            raise JobFailed(type(exc).__name__) from None

    async def record_handler(record: SQSRecord) -> None:
        loop = asyncio.get_running_loop()
        # each job on a worker thread, in a copy of the invocation's context (as asyncio.to_thread)
        call = functools.partial(contextvars.copy_context().run, run, record.body)
        await loop.run_in_executor(pool, call)

    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        response = async_process_partial_response(
            event=dict(event), record_handler=record_handler, processor=processor
        )
    finally:
        pool.shutdown(wait=True)
    failures = response.get("batchItemFailures") or []
    logger.info(
        "queue batch done",
        extra={"records": len(event.get("Records") or []), "failed": len(failures), **report.outcomes},
    )
    return dict(response), report
