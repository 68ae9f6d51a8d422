"""`RouteTable`: an HTTP function's routers in groups by path, each built at its first request.

API Gateway has matched a request's route before Lambda runs. A function whose routes fall into
separate groups (the api function: settings, API keys, providers, OAuth clients, connect sessions,
connections) need not import every group's route modules, request models and domain code at its
cold start: a group's routers are imported and served (`HttpFunction`) at the first request whose
path lies under one of its prefixes, and an execution environment that never serves a group never
loads it. What every request needs (Powertools' resolver and its validation) is loaded at init.
A path no group claims goes to the default group; an unknown route gets the same 404 problem
document from whichever resolver answers it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# What every request needs (Powertools' resolver, its validation) is loaded at init; only the
# groups' route modules wait for their requests.
from oauth_broker.http.function import EventPreparer, HttpFunction

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

__all__ = ["RouteGroup", "RouteTable", "RouterLoader", "request_path"]

RouterLoader = Callable[[], "Sequence[APIGatewayHttpRouter]"]


@dataclass(frozen=True)
class RouteGroup:
    """Routers that serve the paths under `prefixes` (a prefix matches whole path segments)."""

    prefixes: tuple[str, ...]
    routers: RouterLoader

    def claims(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.prefixes)


def request_path(event: Mapping[str, Any]) -> str:
    """The path Powertools routes on: `rawPath`, without the stage unless it is `$default`."""
    path = str(event.get("rawPath") or "/")
    stage = str((event.get("requestContext") or {}).get("stage") or "$default")
    if stage != "$default" and path.startswith(f"/{stage}"):
        path = path[len(stage) + 1 :] or "/"
    return path


class RouteTable:
    """Route groups, each an `HttpFunction` built once, at the first request it serves."""

    def __init__(
        self,
        *groups: RouteGroup,
        default: RouterLoader,
        prepare_event: EventPreparer | None = None,
    ) -> None:
        self._groups = (*groups, RouteGroup((), default))
        self._prepare_event = prepare_event
        self._functions: dict[int, HttpFunction] = {}
        self._lock = threading.Lock()

    def _group_index(self, path: str) -> int:
        for index, group in enumerate(self._groups[:-1]):
            if group.claims(path):
                return index
        return len(self._groups) - 1

    def function_for(self, event: Mapping[str, Any]) -> HttpFunction:
        """The function that serves `event`'s path (built now if this is its group's first request)."""
        index = self._group_index(request_path(event))
        with self._lock:
            function = self._functions.get(index)
            if function is None:
                routers = self._groups[index].routers()
                function = HttpFunction(*routers, prepare_event=self._prepare_event)
                self._functions[index] = function
            return function

    def all_routes(self) -> APIGatewayHttpResolver:
        """A resolver of every group's routes at once (the template's route map is checked against
        it); serving never uses it."""
        routers = [router for group in self._groups for router in group.routers()]
        return HttpFunction(*routers, prepare_event=self._prepare_event).app

    def loaded_groups(self) -> int:
        """How many groups have been built (tests: a request builds its own group only)."""
        return len(self._functions)

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.function_for(event).resolve(event, context)
