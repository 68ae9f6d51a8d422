"""POST /v1/google/gmail-push: Gmail push notifications, as Cloud Pub/Sub's push subscription
delivers them. Behind no authorizer: the push's Google-signed OIDC token is the credential,
checked against the settings of the tenants watching that mailbox. It reads each watching
connection's Gmail history and emits `gmail.messages_added`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, observed
from oauth_broker.routes import gmail_push

function = HttpFunction(gmail_push.router)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("gmail_push", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
