"""ANY /v1/connections/{id}/proxy/{path+}: the provider's API, with the connection's access token.

Two routers, one pass-through (`routes.proxy_gateway.forward`):

- `gateway_router` is API Gateway's single route (`ANY` method, a greedy `{path+}`: `.+`, since
  Powertools' `<name>` matches one segment only and must not turn an unsafe path such as one with
  a backslash into a 404) for a resolver. The proxy function serves that route without a resolver
  (`routes.proxy_gateway`, its cold path); a request it does not match there reaches this router;
- `router` documents the same operation per HTTP method for the OpenAPI document.

The handler reads the whole path, the real method, headers and body from the event itself
(`oauth_broker.http.invocation`), never from the match.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.proxy.service import UpstreamResponse
from oauth_broker.routes import proxy_gateway
from oauth_broker.routes.proxy_gateway import ANY, forward

router = new_router()
gateway_router = new_router()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
__all__ = ["ANY", "METHODS", "gateway_router", "router", "upstream_response"]

_DESCRIPTION = """Forwards the request to the connection's provider API: `{path}` (one or more
segments) is appended to the provider's API base URL (Google Mail: `https://gmail.googleapis.com/`,
Google Contacts: `https://people.googleapis.com/`) and the query string is kept.

Refused before anything leaves the broker: a path that could leave the API (`..`, encoded dots
and slashes, backslashes, absolute URLs, `//host`) with 400 `invalid_path`; a path and method that
are not a method of the API with 400 `unknown_method`; a method none of whose scopes the
connection was granted with 403 `scope_not_granted`; for Google, `users/{userId}` or
`people/{resourceName}` other than `me` with 403 `forbidden`.

The caller's `Authorization`, cookies, hop-by-hop and forwarding headers are not forwarded; the
provider's status, body and content headers come back unchanged (binary bodies base64-encoded
through API Gateway). A 401 from the provider triggers one forced token refresh and one retry;
429, 5xx and Google's rate-limit 403s are retried with backoff within the function's time. With a
`concurrency_level`, requests over the limit get 429 `rate_limited` with `Retry-After`."""


def upstream_response(upstream: UpstreamResponse) -> Response[str]:
    """The provider's answer as the Lambda proxy response (text, or base64 for binary bodies)."""
    direct = proxy_gateway.upstream_response(upstream)
    response: Response[str] = Response(
        status_code=direct.status, body=direct.body, headers=dict(direct.headers)
    )
    response.base64_encoded = direct.base64_encoded
    return response


def _forward(connection_id: str) -> Response[str]:
    return upstream_response(forward(current_invocation(router), connection_id))


@router.route(
    "/v1/connections/<connection_id>/proxy/<path>",
    METHODS,
    summary="Call the provider's API through the broker",
    description=_DESCRIPTION,
    tags=["proxy"],
    response_description="The provider's response, unchanged",
)
def proxy(connection_id: str, path: str) -> Response[str]:
    return _forward(connection_id)


@gateway_router.route("/v1/connections/<connection_id>/proxy/.+", ANY, include_in_schema=False)
def proxy_any(connection_id: str) -> Response[str]:
    return _forward(connection_id)
