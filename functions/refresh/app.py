"""Refresh function: three kinds of event, told apart by their shape.

- the EventBridge schedule: the sweep, which enumerates the due connections and sends them to the
  work queue (`tokens.sweep`);
- an SQS batch from the work queue's event source mapping: refresh and bulk jobs, answered with
  the failed records only (`tokens.queue_worker`, ReportBatchItemFailures);
- a direct invocation from the api function (`{"action": "refresh" | "revoke", ...}`): it holds
  the token decrypt rights (`tokens.invocation`)."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.observability import logger, metric, observed
from oauth_broker.services import get_services
from oauth_broker.tokens.invocation import handle_invocation
from oauth_broker.tokens.queue_worker import handle_queue_batch, is_sqs_event
from oauth_broker.tokens.sweep import RefreshSweep, is_scheduled_event


@logger.inject_lambda_context
@observed("refresh")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = get_services()
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    if is_sqs_event(event):
        response, _ = handle_queue_batch(services, event, deadline=deadline)
        metric("queue_job_failed", len(response.get("batchItemFailures") or ()))
        return response
    if not is_scheduled_event(event):
        # a direct invocation (forced refresh, revocation): the refresher counts its outcomes
        return handle_invocation(services, event, deadline=deadline)
    report = RefreshSweep(services).run(deadline=deadline)
    metric("sweep_remaining", report.remaining)
    metric("sweep_enqueued", report.enqueued)
    metric("sweep_discarded", report.discarded)
    return report.as_dict()
