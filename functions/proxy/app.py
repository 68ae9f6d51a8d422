"""Proxy function: the raw provider proxy, the typed Gmail and Contacts routes, POST .../test and
GET .../token. Everything it does goes through `oauth_broker.proxy.service.ProxyService`.

Each invocation gets a resolver of its own from a small pool and binds its event (see
`oauth_broker.proxy.invocation`): in Lambda there is one request per execution environment, but
the local runtime serves concurrent requests from threads of one process, and Powertools keeps
the current event on a class attribute.
"""

import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.resolver import build_resolver
from oauth_broker.observability import logger, metrics
from oauth_broker.proxy.invocation import bind_invocation
from oauth_broker.routes import connection_probe, contacts, gmail, proxy

ROUTERS = (proxy.gateway_router, gmail.router, contacts.router, connection_probe.router)


def new_app() -> APIGatewayHttpResolver:
    resolver = build_resolver()
    for router in ROUTERS:
        resolver.include_router(router)
    return resolver


def routed_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as Powertools should route it: API Gateway's `ANY` route (the raw proxy) is served
    as method `ANY`; the handler reads the real method from the event it was given."""
    if not str(event.get("routeKey") or "").startswith(f"{proxy.ANY} "):
        return event
    context = dict(event.get("requestContext") or {})
    context["http"] = {**(context.get("http") or {}), "method": proxy.ANY}
    return {**event, "requestContext": context}


class ResolverPool:
    """Idle resolvers; one is taken per invocation (built on demand: one in Lambda)."""

    def __init__(self, first: APIGatewayHttpResolver) -> None:
        self._idle = [first]
        self._lock = threading.Lock()

    def take(self) -> APIGatewayHttpResolver:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return new_app()

    def give(self, app: APIGatewayHttpResolver) -> None:
        with self._lock:
            self._idle.append(app)


app = new_app()  # built at init; the pool builds more only for concurrent local requests
pool = ResolverPool(app)


def resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    resolver = pool.take()
    routed = routed_event(event)
    try:
        with bind_invocation(event, context):
            # Instance attributes shadow Powertools' class-level current event and context.
            resolver.current_event = resolver._to_proxy_event(routed)
            resolver.lambda_context = context
            return resolver.resolve(routed, context)
    finally:
        pool.give(resolver)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(event, context)
