"""GET /v1/oauth/callback: finishes the OAuth flow (state, iss, code exchange, ID token, scopes),
holds its result (tokens envelope-encrypted) and sends it, with a confirmation, to the app;
POST /v1/connect-sessions/confirm: the flow's creator makes the result live."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, metrics
from oauth_broker.routes import connect_confirm, oauth_flow

function = HttpFunction(oauth_flow.callback_router, connect_confirm.router)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
