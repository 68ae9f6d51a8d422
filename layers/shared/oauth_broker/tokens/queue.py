"""The work queue: how the sweep and bulk jobs fan out to the `refresh` function (SQS).

A message is one small JSON job (never a token or any other secret: ids, a tenant, a provider key,
a paging cursor made of index keys)::

    {"kind": "refresh", "id": "con_…"}
        refresh one connection if it is still due (`TokenRefresher.refresh_if_due`)
    {"kind": "switch", "tenant": "acme", "provider": "google-mail", "cursor": null | "<json>"}
        one page of the tenant's connections of that provider: fan out as `reconcile` jobs, then
        send the next page's `switch` job
    {"kind": "reconcile", "tenant": "acme", "provider": "google-mail", "ids": ["con_…", …]}
        bring each connection in line with the provider's CURRENT state for the tenant (cut when
        it is disabled, restore when enabled): order-free and idempotent
    {"kind": "gmail_history", "mailbox": "ann@example.com", "id": "con_…"}
        the rest of a watched mailbox's backlog that one Gmail push left (`gmail_push.receiver`):
        a few more pages of its history, announced, and the next job if more remain

One connection per `refresh` message, sent ten to a `SendMessageBatch` call: a failed refresh is
retried alone and a poison connection reaches the dead-letter queue alone, not with nine innocent
neighbours. SQS bills a batch call as one request, and the event source mapping receives and
deletes ten at a time, so a refresh costs ~0.3 SQS requests (~$0.12 per million refreshes at
$0.40 per million requests), against two KMS requests ($6 per million): not worth coarser retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oauth_broker.observability import logger

if TYPE_CHECKING:
    from oauth_broker.services import Services

BATCH = 10  # SendMessageBatch's limit
SEND_ATTEMPTS = 3  # entries SQS refused (throttled, internal error) are retried this often

REFRESH = "refresh"
SWITCH = "switch"
RECONCILE = "reconcile"
GMAIL_HISTORY = "gmail_history"


def refresh_job(connection_id: str) -> dict[str, Any]:
    return {"kind": REFRESH, "id": connection_id}


def switch_job(tenant: str, provider: str, cursor: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": SWITCH,
        "tenant": tenant,
        "provider": provider,
        "cursor": json.dumps(cursor, sort_keys=True) if cursor else None,
    }


def reconcile_job(tenant: str, provider: str, ids: Sequence[str]) -> dict[str, Any]:
    return {"kind": RECONCILE, "tenant": tenant, "provider": provider, "ids": list(ids)}


def gmail_history_job(mailbox: str, connection_id: str) -> dict[str, Any]:
    return {"kind": GMAIL_HISTORY, "mailbox": mailbox, "id": connection_id}


class WorkQueue:
    """Sends jobs to the queue, ten per `SendMessageBatch` call."""

    def __init__(self, sqs: Any, queue_url: str):
        self.sqs = sqs
        self.url = queue_url

    def send(self, jobs: Sequence[Mapping[str, Any]]) -> int:
        """Sends every job; returns how many could not be sent (SQS refused them repeatedly)."""
        unsent = 0
        for start in range(0, len(jobs), BATCH):
            unsent += self._send_batch(jobs[start : start + BATCH])
        return unsent

    def _send_batch(self, jobs: Sequence[Mapping[str, Any]]) -> int:
        pending = {str(i): json.dumps(job, separators=(",", ":")) for i, job in enumerate(jobs)}
        refused = 0
        for _ in range(SEND_ATTEMPTS):
            resp = self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": k, "MessageBody": v} for k, v in pending.items()],
            )
            failed = resp.get("Failed") or []
            retry = {f["Id"] for f in failed if f.get("SenderFault") is not True}
            if len(retry) < len(failed):  # a sender fault (too big, malformed) will never pass
                refused += len(failed) - len(retry)
                logger.error(
                    "queue refused jobs", extra={"codes": sorted({str(f.get("Code")) for f in failed})}
                )
            pending = {k: v for k, v in pending.items() if k in retry}
            if not pending:
                return refused
        logger.warning("jobs not queued", extra={"count": len(pending)})
        return refused + len(pending)


def work_queue(services: Services) -> WorkQueue | None:
    """The deployment's work queue; None where none is configured (everything runs in-process)."""
    url = services.config.refresh_queue_url
    if not url:
        return None
    return services.singleton("tokens.queue", lambda: WorkQueue(services.sqs, url))
