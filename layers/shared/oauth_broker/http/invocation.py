"""The invocation a route is serving: its API Gateway event and Lambda context, per request.

Powertools keeps the current event on a class attribute (`BaseRouter.current_event`, set by
`resolve()`), and `include_router` points a module-level router at the last resolver that included
it. That is fine in Lambda (one request per execution environment) but shared between the threads
of the local runtime, where one request could read another's event, and so another caller's
principal. Every HTTP function binds each invocation here (`oauth_broker.http.function`; a
`ContextVar`, so per thread) and route code reads the event, the caller, the query and the
remaining time from `current_invocation(router)`, never from `router.current_event`. Outside a
bound invocation (a resolver driven by hand), the router's own event is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.binding import bound
from oauth_broker.http.principal import principal_from_event
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock

__all__ = ["Invocation", "bind_invocation", "current_invocation"]

# Time kept back from the function's remaining time to build and return the response.
RESPONSE_MARGIN_SECONDS = 0.5
_DEFAULT_REMAINING_MS = 29_000

_current: ContextVar[Invocation | None] = ContextVar("oauth_broker_invocation", default=None)


@dataclass(frozen=True)
class Invocation:
    event: Mapping[str, Any]
    context: Any = None

    def lambda_remaining_ms(self) -> int | None:
        """The Lambda context's remaining time; None without a (usable) Lambda context."""
        get = getattr(self.context, "get_remaining_time_in_millis", None)
        if get is None:
            return None
        try:
            return int(get())
        except (TypeError, ValueError):
            return None

    def remaining_ms(self) -> int:
        """The remaining time; 29 s (API Gateway's limit) without a Lambda context."""
        remaining = self.lambda_remaining_ms()
        return _DEFAULT_REMAINING_MS if remaining is None else remaining

    def deadline(self, clock: Clock = SYSTEM_CLOCK) -> float:
        """When the answer must be ready, on `clock.monotonic()`."""
        return clock.monotonic() + max(0.0, self.remaining_ms() / 1000.0 - RESPONSE_MARGIN_SECONDS)

    def principal(self) -> Principal:
        return principal_from_event(self.event)

    @property
    def headers(self) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in (self.event.get("headers") or {}).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def method(self) -> str:
        http = (self.event.get("requestContext") or {}).get("http") or {}
        return str(http.get("method") or self.event.get("httpMethod") or "GET").upper()

    @property
    def raw_path(self) -> str | None:
        value = self.event.get("rawPath")
        return str(value) if value else None

    @property
    def raw_query(self) -> str:
        return str(self.event.get("rawQueryString") or "")

    def query_params(self) -> dict[str, str]:
        """The query string parameters as API Gateway decoded them (repeated keys comma-joined)."""
        return {str(k): str(v) for k, v in (self.event.get("queryStringParameters") or {}).items()}

    def query(self, name: str) -> str | None:
        return self.query_params().get(name)

    @property
    def domain_name(self) -> str | None:
        """The request's `requestContext.domainName` (the host the caller used)."""
        value = (self.event.get("requestContext") or {}).get("domainName")
        return str(value) if value else None

    def path_parameter(self, name: str) -> str | None:
        value = (self.event.get("pathParameters") or {}).get(name)
        return str(value) if value is not None else None


def bind_invocation(event: Mapping[str, Any], context: Any) -> AbstractContextManager[Invocation]:
    """The invocation of `event` is the current one for the length of a `with` block."""
    return bound(_current, Invocation(event, context))


def current_invocation(router: Any = None) -> Invocation:
    """The bound invocation; else one made from `router`'s current event and Lambda context (safe
    only when one request at a time is served: a resolver driven by hand, in Lambda)."""
    bound = _current.get()
    if bound is not None:
        return bound
    if router is None:
        raise RuntimeError("no invocation is bound and no router was given")
    event = router.current_event.raw_event
    context = getattr(router, "lambda_context", None)
    return Invocation(event, context)
