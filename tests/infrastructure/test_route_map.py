"""The template's routes and the handlers' Powertools routes are the same map, function by function.

The local runtime reads its routes from template.yaml; this checks the other side: every route
the template sends to a function is one that function's resolver serves, and the resolver serves
nothing the template does not route to it (a route missing from either side would 404 in AWS).
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from oauth_broker_dev.lambda_runtime import load_function
from oauth_broker_dev.template import http_routes

ENV = {
    "TABLE_NAME": "route-map",
    "KMS_KEY_ID": "alias/route-map",
    "EVENT_BUS_NAME": "route-map",
    "JWT_ISSUER": "https://idp.example.com",
    "JWT_AUDIENCE": "broker",
    "JWKS_URL": "https://idp.example.com/jwks",
}


def normalise(method: str, path: str) -> str:
    """`GET /v1/connections/{id}` and Powertools' `GET /v1/connections/<connection_id>` alike."""
    path = re.sub(r"\{\w+\+\}|\.\+|\.\*", "{+}", path)
    path = re.sub(r"\{\w+\}|<\w+>", "{}", path)
    return f"{method} {path}"


def template_routes() -> dict[str, set[str]]:
    by_function: dict[str, set[str]] = defaultdict(set)
    for route in http_routes():
        if route.path == "/v1/{proxy+}":
            continue  # the catch-all: the api resolver's not-found handler answers it
        by_function[route.function].add(normalise(route.method, route.path))
    return by_function


def resolver_routes(function: str) -> set[str]:
    # a function that routes without a resolver at its cold start (proxy) or builds route groups
    # on demand (api, callback) gives every route in one resolver through `all_routes()`
    module = load_function(function)
    app = module.all_routes() if hasattr(module, "all_routes") else module.app
    return {normalise(r.method, r.path) for r in app._static_routes + app._dynamic_routes}


@pytest.mark.parametrize("function", sorted(template_routes()))
def test_given_a_function_when_its_routes_are_compared_then_template_and_resolver_agree(
    function, monkeypatch
):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert resolver_routes(function) == template_routes()[function]
