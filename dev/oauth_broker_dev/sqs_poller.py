"""Lambda's SQS event source mapping, locally: pollers that hand the work queue to a function.

Like the mapping AWS runs: each poller receives up to `batch_size` messages (long polling), invokes
the function with an SQS event (`Records` with `messageId`, `receiptHandle`, `body`, `attributes`
with `ApproximateReceiveCount`, `eventSource` `aws:sqs`, `eventSourceARN`), and deletes the records
the answer does not list in `batchItemFailures` (ReportBatchItemFailures). The failed ones, and the
whole batch when the invocation raises, stay in the queue and come back once their visibility
timeout passes; SQS itself (moto implements redrive policies) moves a message received
`maxReceiveCount` times to the dead-letter queue. `max_concurrency` pollers run at once
(ScalingConfig.MaximumConcurrency).

Its SQS client is its own: these calls are the Lambda service's, not the function's (the
integration suite's AWS call recorder does not watch it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oauth_broker_dev.aws_local import LOCAL_REGION

KEPT_DELIVERIES = 1000  # the latest invocations, for tests to read


@dataclass
class Delivery:
    """One invocation: which messages it carried, which it reported failed."""

    message_ids: list[str]
    failed_ids: list[str]
    receive_counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class LocalEventSourceMapping:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        batch_size: int = 10,
        max_concurrency: int = 2,
        wait_seconds: int = 1,
    ):
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.batch_size = batch_size
        self.max_concurrency = max(1, max_concurrency)
        self.wait_seconds = wait_seconds
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one poll ----------------------------------------------------------------------------
    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receives one batch, invokes the function, deletes what succeeded; returns the batch size."""
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages") or []
        if not messages:
            return 0
        delivery = Delivery(
            message_ids=[m["MessageId"] for m in messages],
            failed_ids=[],
            receive_counts={
                m["MessageId"]: int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                for m in messages
            },
        )
        try:
            answer = self.invoke(self.event(messages))
            failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
            delivery.failed_ids = [str(f.get("itemIdentifier")) for f in failures or []]
        except Exception as exc:  # the invocation failed: the whole batch comes back
            delivery.error = type(exc).__name__
            delivery.failed_ids = list(delivery.message_ids)
        done = [m for m in messages if m["MessageId"] not in set(delivery.failed_ids)]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        with self._lock:
            self.deliveries.append(delivery)
            del self.deliveries[:-KEPT_DELIVERIES]
        return len(messages)

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": dict(m.get("Attributes") or {}),
                    "messageAttributes": dict(m.get("MessageAttributes") or {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": LOCAL_REGION,
                }
                for m in messages
            ]
        }

    def pending(self) -> int:
        """Messages in the queue, visible or in flight."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, *, timeout: float = 60.0) -> None:
        """Polls in this thread until the queue is empty (failed messages come back after their
        visibility timeout, and leave for the dead-letter queue after maxReceiveCount receives)."""
        end = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > end:
                raise TimeoutError(f"the work queue still holds {self.pending()} message(s)")
            self.poll_once(wait_seconds=1)

    # -- background pollers (make dev) ----------------------------------------------------------
    def start(self) -> LocalEventSourceMapping:
        self._stop.clear()
        for i in range(self.max_concurrency):
            thread = threading.Thread(target=self._loop, name=f"sqs-poller-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the local AWS endpoint gone (stopping): wait, then retry or end
                if self._stop.wait(1.0):
                    return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.wait_seconds + 5)
        self._threads = []
