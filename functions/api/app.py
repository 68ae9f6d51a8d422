"""Management API: health, OpenAPI, settings, API keys, providers, OAuth clients, connect sessions,
connections. Unknown /v1 routes land here and get a 404 problem document."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, metrics
from oauth_broker.routes import (
    api_keys,
    connect_sessions,
    connection_lifecycle,
    connections,
    oauth_clients,
    providers,
    settings,
    system,
)

function = HttpFunction(
    system.router,
    settings.router,
    api_keys.router,
    providers.router,
    oauth_clients.router,
    connect_sessions.router,
    connections.router,
    connection_lifecycle.router,
)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
