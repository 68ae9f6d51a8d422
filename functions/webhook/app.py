"""Webhook function: an EventBridge rule delivers every broker event here; it signs the event
(HMAC-SHA256) and POSTs it to the tenant's webhook URL. A failed delivery raises, so Lambda's
retries and the dead-letter queue take over."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.events.webhooks import WebhookDelivery, WebhookDeliveryFailed
from oauth_broker.observability import logger, metric, observed
from oauth_broker.services import get_services


@logger.inject_lambda_context
@observed("webhook")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        result = WebhookDelivery(get_services()).deliver(event)
    except WebhookDeliveryFailed:
        metric("webhook_failed")
        raise
    if result.status == "delivered":
        metric("webhook_delivered")
    return result.as_dict()
