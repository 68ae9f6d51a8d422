"""The OpenAPI document and template.yaml agree: every documented operation is a route of the HTTP
API, and it is documented as public (no security) exactly when the template leaves it without the
authorizer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infrastructure.infra_template import FUNCTIONS, Route, Stack
from oauth_broker.routes.system import openapi_document

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(openapi_document())


def _template_route(stack: Stack, method: str, path: str) -> Route:
    """The template's route serving `method path` (API Gateway's own matching: exact, then greedy)."""
    routes = [route for fn in FUNCTIONS for route in stack.routes_of(fn)]
    shape = re.sub(r"\{[^}]+\}", "{}", path)
    for route in routes:
        if route.method in (method, "ANY") and re.sub(r"\{[^}+]+\}", "{}", route.path) == shape:
            return route
    for route in routes:  # a greedy {path+} route (the proxy)
        prefix, plus, _ = route.path.partition("{path+}")
        if plus and route.method in (method, "ANY") and shape.startswith(re.sub(r"\{[^}]+\}", "{}", prefix)):
            return route
    raise AssertionError(f"no template route serves {method} {path}")


def test_given_every_documented_operation_when_compared_with_the_template_then_security_matches_auth(
    stack: Stack, document: dict[str, Any]
) -> None:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            route = _template_route(stack, method.upper(), path)
            documented_public = item[method]["security"] == []
            assert documented_public is route.public, f"{method.upper()} {path} vs {route.key}"
