"""Management API: health, OpenAPI, settings, API keys, providers, OAuth clients, connect sessions,
connections, the audit trail, pending revocations. Unknown /v1 routes land here and get a 404
problem document.

The routes are grouped by path (`oauth_broker.http.route_table`): a cold start imports only the
group of the request it serves (its route modules, request models and domain code), not all six.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.route_table import RouteGroup, RouterLoader, RouteTable
from oauth_broker.observability import logger, observed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter


def routers(*modules: str) -> RouterLoader:
    """A loader of `oauth_broker.routes.<module>.router` for each module, imported when called."""

    def load() -> Sequence[APIGatewayHttpRouter]:
        return [import_module(f"oauth_broker.routes.{name}").router for name in modules]

    return load


table = RouteTable(
    RouteGroup(("/v1/settings",), routers("settings")),
    RouteGroup(("/v1/api-keys",), routers("api_keys")),
    RouteGroup(("/v1/providers",), routers("providers")),
    RouteGroup(("/v1/oauth-clients",), routers("oauth_clients")),
    RouteGroup(("/v1/connect-sessions",), routers("connect_sessions")),
    RouteGroup(("/v1/connections",), routers("connections", "connection_lifecycle")),
    RouteGroup(("/v1/audit",), routers("audit")),
    RouteGroup(("/v1/revocations",), routers("revocations")),
    default=routers("system"),  # health, openapi.json, and the 404 of every unknown route
)


def all_routes() -> APIGatewayHttpResolver:
    """Every route of the function in one resolver (the template's route map is checked with it)."""
    return table.all_routes()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("api", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return table.resolve(event, context)
