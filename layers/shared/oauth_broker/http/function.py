"""`HttpFunction`: what every HTTP function's app.py serves its routers with.

Powertools keeps the current event and Lambda context on class attributes (`BaseRouter`) and
points each included router at the last resolver that included it. In Lambda one execution
environment serves one request at a time, so that is harmless; the local runtime (`make dev`, the
integration and e2e tests) serves concurrent requests from threads of one process. So each
invocation here takes a resolver of its own from a small pool (one in Lambda: the others are built
only for concurrent local requests), sets the event and context as attributes of that instance
(shadowing the class-level ones Powertools' own code reads) and binds the invocation
(`oauth_broker.http.invocation`) for the route code, which reads it from there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from oauth_broker.http.invocation import bind_invocation
from oauth_broker.http.resolver import build_resolver

__all__ = ["EventPreparer", "HttpFunction"]

EventPreparer = Callable[[dict[str, Any]], dict[str, Any]]


class HttpFunction:
    """The function's routers, served by a pool of resolvers; `app` is the first, built at init."""

    def __init__(self, *routers: APIGatewayHttpRouter, prepare_event: EventPreparer | None = None) -> None:
        if not routers:
            raise ValueError("an HTTP function needs at least one router")
        self._routers = routers
        self._prepare_event = prepare_event
        self._lock = threading.Lock()
        self.app = self._new_resolver()
        self._idle = [self.app]

    def _new_resolver(self) -> APIGatewayHttpResolver:
        resolver = build_resolver()
        for router in self._routers:
            resolver.include_router(router)
        # include_router copies the context of the resolver the router last pointed at, which may
        # be serving a request now: start empty, as every resolve() leaves it.
        resolver.context.clear()
        return resolver

    def _take(self) -> APIGatewayHttpResolver:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new_resolver()

    def _give(self, resolver: APIGatewayHttpResolver) -> None:
        with self._lock:
            self._idle.append(resolver)

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Serve one invocation. Routes see `event` itself through `current_invocation()`; Powertools
        routes `prepare_event(event)` (by default the event as it is)."""
        routed = self._prepare_event(event) if self._prepare_event is not None else event
        resolver = self._take()
        try:
            with bind_invocation(event, context):
                # Instance attributes shadow Powertools' class-level current event and context.
                resolver.current_event = cast(APIGatewayProxyEventV2, resolver._to_proxy_event(routed))
                resolver.lambda_context = context
                return resolver.resolve(routed, context)
        finally:
            self._give(resolver)
