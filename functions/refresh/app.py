"""Refresh function: three kinds of event, told apart by their shape.

- the EventBridge schedule: the sweep, which enumerates the due connections and sends them to the
  work queue (`tokens.sweep`);
- an SQS batch from the work queue's event source mapping: refresh and bulk jobs, answered with
  the failed records only (`tokens.queue_worker`, ReportBatchItemFailures);
- a direct invocation from the api function (`{"action": "refresh" | "revoke", ...}`): it holds
  the token decrypt rights (`tokens.invocation`)."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.observability import logger, metrics
from oauth_broker.services import get_services
from oauth_broker.tokens.invocation import handle_invocation
from oauth_broker.tokens.queue_worker import handle_queue_batch, is_sqs_event
from oauth_broker.tokens.sweep import RefreshSweep, is_scheduled_event


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services = get_services()
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    if is_sqs_event(event):
        response, batch = handle_queue_batch(services, event, deadline=deadline)
        for name, value in batch.metrics().items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return response
    if not is_scheduled_event(event):
        answer = handle_invocation(services, event, deadline=deadline)
        failed = isinstance(answer.get("error"), dict)
        metrics.add_metric(
            name="invocation_failed" if failed else "invocation_ok", unit=MetricUnit.Count, value=1
        )
        return answer
    report = RefreshSweep(services).run(deadline=deadline)
    for name, value in report.metrics().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return report.as_dict()
