"""`http.direct`: a route served without a resolver answers exactly as the resolver would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oauth_broker.errors import NotFound, RateLimited
from oauth_broker.http.direct import DirectResponse, problem, serve
from oauth_broker.http.function import HttpFunction
from oauth_broker.http.invocation import Invocation
from oauth_broker.http.resolver import new_router


def event(path: str = "/boom") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"x-probe": "yes"},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def through_resolver(err: Exception) -> dict[str, Any]:
    router = new_router()

    @router.get("/boom")
    def _boom() -> None:
        raise err

    return HttpFunction(router).resolve(event(), None)


def raising(err: Exception) -> Any:
    def handler(invocation: Invocation) -> DirectResponse:
        raise err

    return handler


@pytest.mark.parametrize(
    "err",
    [
        NotFound("connection con_1 not found"),
        RateLimited("slow down", headers={"Retry-After": "3"}),
        KeyError("secret-looking message"),
    ],
    ids=["not_found", "rate_limited_with_header", "unexpected"],
)
def test_given_a_failing_route_when_served_directly_then_the_answer_equals_the_resolvers(err: Exception):
    direct = serve(raising(err), event(), None)

    assert direct == through_resolver(err)


def test_given_an_unexpected_error_when_served_directly_then_the_problem_names_nothing_of_it():
    response = serve(raising(ValueError("ya29.a-token-in-a-message")), event(), None)

    assert response["statusCode"] == 500
    assert json.loads(response["body"])["code"] == "internal_error"
    assert "ya29" not in response["body"]


def test_given_a_route_when_served_directly_then_it_sees_the_invocation_and_its_response_is_returned():
    def handler(invocation: Invocation) -> DirectResponse:
        return DirectResponse(201, invocation.header("x-probe") or "", {"Content-Type": "text/plain"}, False)

    response = serve(handler, event(), None)

    assert response == {
        "statusCode": 201,
        "body": "yes",
        "isBase64Encoded": False,
        "headers": {"Content-Type": "text/plain"},
        "cookies": [],
    }


def test_given_a_broker_error_when_made_a_problem_then_its_document_and_headers_are_the_resolvers():
    err = RateLimited("slow down", headers={"Retry-After": "3"})

    assert problem(err).as_lambda() == through_resolver(err)
