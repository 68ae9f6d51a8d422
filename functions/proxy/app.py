"""Proxy function: the raw provider proxy, the typed Gmail and Contacts routes, POST .../test and
GET .../token. Everything it does goes through `oauth_broker.proxy.service.ProxyService`.

API Gateway's `ANY` route (the raw proxy) is resolved as method `ANY` (`routed_event`); its handler
reads the real method from the invocation's own event (`oauth_broker.http.invocation`).
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, metrics
from oauth_broker.routes import connection_probe, contacts, gmail, proxy


def routed_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as Powertools should route it: API Gateway's `ANY` route is served as method `ANY`."""
    if not str(event.get("routeKey") or "").startswith(f"{proxy.ANY} "):
        return event
    context = dict(event.get("requestContext") or {})
    context["http"] = {**(context.get("http") or {}), "method": proxy.ANY}
    return {**event, "requestContext": context}


function = HttpFunction(
    proxy.gateway_router, gmail.router, contacts.router, connection_probe.router, prepare_event=routed_event
)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
