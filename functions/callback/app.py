"""GET /v1/oauth/callback: finishes the OAuth flow (state, iss, code exchange, ID token, scopes),
holds its result (tokens envelope-encrypted) and sends it, with a confirmation, to the app;
POST /v1/connect-sessions/confirm: the flow's creator makes the result live.

Each route's modules are imported at its first request (`oauth_broker.http.route_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.route_table import RouteGroup, RouteTable
from oauth_broker.observability import logger, observed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter


def callback_routers() -> Sequence[APIGatewayHttpRouter]:
    from oauth_broker.routes import oauth_flow

    return [oauth_flow.callback_router]


def confirm_routers() -> Sequence[APIGatewayHttpRouter]:
    from oauth_broker.routes import connect_confirm

    return [connect_confirm.router]


table = RouteTable(
    RouteGroup(("/v1/connect-sessions/confirm",), confirm_routers),
    default=callback_routers,  # GET /v1/oauth/callback, and the 404 of any other path
)


def all_routes() -> APIGatewayHttpResolver:
    """Every route of the function in one resolver (the template's route map is checked with it)."""
    return table.all_routes()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("callback", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return table.resolve(event, context)
