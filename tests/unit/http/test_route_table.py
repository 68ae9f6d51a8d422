"""`RouteTable`: a request builds and is served by its own route group only; others stay unloaded."""

from __future__ import annotations

import json
from typing import Any

from oauth_broker.http.resolver import new_router
from oauth_broker.http.route_table import RouteGroup, RouteTable, request_path


def event(path: str, *, stage: str = "$default") -> dict[str, Any]:
    raw = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": raw,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": raw}, "stage": stage},
        "isBase64Encoded": False,
    }


class Loader:
    """A group's routers, counting how often they were loaded."""

    def __init__(self, path: str, answer: str) -> None:
        self.path, self.answer, self.calls = path, answer, 0

    def __call__(self) -> list[Any]:
        self.calls += 1
        router = new_router()

        @router.get(self.path)
        def _route() -> dict[str, str]:
            return {"served_by": self.answer}

        return [router]


def served_by(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 200, response
    return str(json.loads(response["body"])["served_by"])


def test_given_two_groups_when_a_request_is_under_one_then_only_that_group_is_loaded_and_serves_it():
    settings, keys = Loader("/v1/settings", "settings"), Loader("/v1/api-keys", "keys")
    table = RouteTable(
        RouteGroup(("/v1/settings",), settings),
        RouteGroup(("/v1/api-keys",), keys),
        default=Loader("/v1/health", "system"),
    )

    first = table.resolve(event("/v1/api-keys"), None)
    second = table.resolve(event("/v1/api-keys"), None)

    assert (served_by(first), served_by(second)) == ("keys", "keys")
    assert (keys.calls, settings.calls, table.loaded_groups()) == (1, 0, 1)


def test_given_a_path_no_group_claims_when_resolved_then_the_default_group_answers_404_problem():
    keys = Loader("/v1/api-keys", "keys")
    table = RouteTable(RouteGroup(("/v1/api-keys",), keys), default=Loader("/v1/health", "system"))

    response = table.resolve(event("/v1/nothing-here"), None)

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(response["body"])["code"] == "not_found"
    assert keys.calls == 0


def test_given_a_prefix_when_a_path_only_starts_with_its_letters_then_the_group_does_not_claim_it():
    group = RouteGroup(("/v1/connections",), Loader("/v1/connections", "c"))

    assert group.claims("/v1/connections")
    assert group.claims("/v1/connections/con_1/refresh")
    assert not group.claims("/v1/connections-archive")


def test_given_a_named_stage_when_routing_then_the_stage_is_not_part_of_the_path():
    assert request_path(event("/v1/settings", stage="prod")) == "/v1/settings"
    assert request_path(event("/v1/settings")) == "/v1/settings"
