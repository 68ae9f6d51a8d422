"""`HttpFunction`: each invocation gets a resolver of its own and is bound for its routes."""

from __future__ import annotations

import json
import threading
from typing import Any

from oauth_broker.http.function import HttpFunction
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import current_principal, new_router


def event(user: str, path: str = "/who", *, method: str = "GET", query: str = "") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "headers": {},
        "requestContext": {
            "domainName": "broker.example.com",
            "http": {"method": method, "path": path},
            "stage": "$default",
            "authorizer": {"lambda": {"tenant": "acme", "user": user, "is_admin": False, "via": "jwt"}},
        },
        "isBase64Encoded": False,
    }


def body(response: dict[str, Any]) -> Any:
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_given_a_request_when_resolved_then_the_route_reads_its_caller_query_and_domain():
    router = new_router()

    @router.get("/who")
    def who() -> dict[str, Any]:
        invocation = current_invocation(router)
        return {
            "user": current_principal(router).user,
            "q": invocation.query("q"),
            "params": invocation.query_params(),
            "domain": invocation.domain_name,
        }

    function = HttpFunction(router)

    assert body(function.resolve(event("alice", query="q=1&x=y"), None)) == {
        "user": "alice",
        "q": "1",
        "params": {"q": "1", "x": "y"},
        "domain": "broker.example.com",
    }


def test_given_concurrent_requests_when_resolved_then_each_route_sees_its_own_caller():
    router = new_router()
    inside = threading.Barrier(2)

    @router.get("/who")
    def who() -> dict[str, Any]:
        inside.wait(5)  # both requests are in a route at once: a second resolver was built
        return {"user": current_principal(router).user}

    function = HttpFunction(router)
    seen: dict[str, Any] = {}

    def serve(user: str) -> None:
        seen[user] = body(function.resolve(event(user), None))["user"]

    threads = [threading.Thread(target=serve, args=(user,)) for user in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert seen == {"alice": "alice", "bob": "bob"}
    assert len(function._idle) == 2 and function.app in function._idle


def test_given_a_prepare_event_when_resolved_then_powertools_routes_it_and_the_route_reads_the_original():
    router = new_router()

    @router.route("/any", ["ANY"])
    def any_method() -> dict[str, Any]:
        return {"method": current_invocation(router).method}

    def as_any(e: dict[str, Any]) -> dict[str, Any]:
        return {**e, "requestContext": {**e["requestContext"], "http": {"method": "ANY", "path": "/any"}}}

    function = HttpFunction(router, prepare_event=as_any)

    assert body(function.resolve(event("alice", "/any", method="DELETE"), None)) == {"method": "DELETE"}
