"""ANY /v1/connections/{id}/proxy/{path+}: the provider's API, with the connection's access token.

Two routers, one handler:

- `gateway_router` is what the proxy function serves: API Gateway's single route, `ANY` method and
  a greedy `{path+}` (`.+`: Powertools' `<name>` matches one segment only, and must not turn an
  unsafe path such as one with a backslash into a 404). API Gateway has already routed the request
  (its `routeKey` is `ANY ...`), so the function resolves it as method `ANY`
  (`functions/proxy/app.py`);
- `router` documents the same operation per HTTP method for the OpenAPI document.

The handler reads the whole path, the real method, headers and body from the event itself
(`oauth_broker.http.invocation`), never from the match.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.proxy.paths import raw_subpath
from oauth_broker.proxy.payload import event_body, gateway_body
from oauth_broker.proxy.service import ProxyRequest, UpstreamResponse, proxy_service
from oauth_broker.services import get_services

router = new_router()
gateway_router = new_router()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ANY = "ANY"

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
    body, is_base64 = gateway_body(upstream.body, upstream.headers)
    response: Response[str] = Response(status_code=upstream.status, body=body, headers=dict(upstream.headers))
    response.base64_encoded = is_base64
    return response


def _forward(connection_id: str) -> Response[str]:
    invocation = current_invocation(router)
    principal = invocation.principal()
    request = ProxyRequest(
        method=invocation.method,
        path=raw_subpath(invocation.raw_path, connection_id),
        decoded_path=invocation.path_parameter("path"),
        query=invocation.raw_query,
        headers=invocation.headers,
        body=event_body(invocation.event),
    )
    service = proxy_service(get_services())
    upstream = service.call(principal, connection_id, request, deadline=invocation.deadline(service.clock))
    return upstream_response(upstream)


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
