"""Proxy function: the raw provider proxy, the typed Gmail and Contacts routes, POST .../test and
GET .../token. Everything it does goes through `oauth_broker.proxy.service.ProxyService`.

Two route tables. The raw proxy, API Gateway's `ANY /v1/connections/{id}/proxy/{path+}` route and
nearly every request, is served directly (`oauth_broker.routes.proxy_gateway`): API Gateway has
routed it already and it has no body to validate, so a cold start that serves it never loads
Powertools' resolver, its OpenAPI validation or the typed routes' models. Every other request goes
to a resolver of the typed routes (validation on), built at its first such request.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.observability import logger, metric, observed
from oauth_broker.routes.proxy_gateway import ANY, gateway_connection_id, serve_gateway

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from oauth_broker.http.function import HttpFunction

_typed: list[HttpFunction] = []
_typed_lock = threading.Lock()


def routed_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as Powertools should route it: API Gateway's `ANY` route is served as method `ANY`."""
    if not str(event.get("routeKey") or "").startswith(f"{ANY} "):
        return event
    context = dict(event.get("requestContext") or {})
    context["http"] = {**(context.get("http") or {}), "method": ANY}
    return {**event, "requestContext": context}


def typed_function() -> HttpFunction:
    """The resolver's function: Gmail, Contacts, test and token (and the raw route, for a path the
    direct table does not match), built once, at the first request that needs it."""
    with _typed_lock:
        if not _typed:
            from oauth_broker.http.function import HttpFunction
            from oauth_broker.routes import connection_probe, contacts, gmail, gmail_watch, proxy

            _typed.append(
                HttpFunction(
                    proxy.gateway_router,
                    gmail.router,
                    gmail_watch.router,
                    contacts.router,
                    connection_probe.router,
                    prepare_event=routed_event,
                )
            )
        return _typed[0]


def all_routes() -> APIGatewayHttpResolver:
    """Every route of the function in one resolver (the template's route map is checked with it):
    the typed routes' resolver also carries the raw route."""
    return typed_function().app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("proxy", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    connection_id = gateway_connection_id(event)
    if connection_id is not None:
        response = serve_gateway(event, context, connection_id)
    else:
        response = typed_function().resolve(event, context)
    if response.get("statusCode") == 429:
        metric("rate_limited")
    return response
