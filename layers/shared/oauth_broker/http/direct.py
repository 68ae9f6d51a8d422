"""A route served without Powertools' resolver: the invocation bound, errors mapped, the response built.

API Gateway routes every request before Lambda sees it (the event's `routeKey`). A function's hot
route that needs nothing of the resolver (no body to validate, no OpenAPI document) can be served
directly: the invocation is bound as every route sees it (`oauth_broker.http.invocation`), an
exception is answered as the resolver answers it (`oauth_broker.http.failures`) and the response
has the HTTP API payload 2.0 shape Powertools gives (`statusCode`, `body`, `isBase64Encoded`,
`headers`, `cookies`). The proxy's raw pass-through is served this way
(`oauth_broker.routes.proxy_gateway`), which keeps Powertools' event handler and its OpenAPI
validation out of the proxy's cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oauth_broker.errors import BrokerError
from oauth_broker.http.failures import problem_for
from oauth_broker.http.invocation import Invocation, bind_invocation
from oauth_broker.http.problems import PROBLEM_CONTENT_TYPE, problem_body, problem_headers

__all__ = ["DirectResponse", "problem", "serve"]


@dataclass(frozen=True, slots=True)
class DirectResponse:
    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    base64_encoded: bool = False

    def as_lambda(self) -> dict[str, Any]:
        """The Lambda proxy response, as Powertools' `APIGatewayHttpResolver` builds it."""
        return {
            "statusCode": self.status,
            "body": self.body,
            "isBase64Encoded": self.base64_encoded,
            "headers": {k: v for k, v in self.headers.items() if v is not None},
            "cookies": [],
        }


def problem(err: BrokerError) -> DirectResponse:
    """`err` as its RFC 9457 problem document (the same document `problems.from_error` gives)."""
    headers = problem_headers(err.headers)
    headers.setdefault("Content-Type", PROBLEM_CONTENT_TYPE)
    body = json.dumps(problem_body(err.status, err.code, err.title, err.detail, **err.extra))
    return DirectResponse(err.status, body, headers)


def serve(
    handler: Callable[[Invocation], DirectResponse], event: Mapping[str, Any], context: Any
) -> dict[str, Any]:
    """Serve one invocation with `handler`, its exceptions answered as problem documents."""
    with bind_invocation(event, context) as invocation:
        try:
            response = handler(invocation)
        except Exception as err:
            response = problem(problem_for(err))
    return response.as_lambda()
