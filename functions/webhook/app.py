"""Webhook function: an EventBridge rule delivers every broker event here; it signs the event
(HMAC-SHA256) and POSTs it to the tenant's webhook URL. A failed delivery raises, so Lambda's
retries and the dead-letter queue take over."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.events.webhooks import WebhookDelivery, WebhookDeliveryFailed
from oauth_broker.observability import logger, metrics
from oauth_broker.services import get_services


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        result = WebhookDelivery(get_services()).deliver(event)
    except WebhookDeliveryFailed:
        metrics.add_metric(name="webhook_failed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"webhook_{result.status}", unit=MetricUnit.Count, value=1)
    return result.as_dict()
