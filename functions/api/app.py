"""Management API: health, OpenAPI, settings, API keys, providers, OAuth clients, connect sessions,
connections. Unknown /v1 routes land here and get a 404 problem document."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.resolver import build_resolver
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

app = build_resolver()
for module in (
    system,
    settings,
    api_keys,
    providers,
    oauth_clients,
    connect_sessions,
    connections,
    connection_lifecycle,
):
    app.include_router(module.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
