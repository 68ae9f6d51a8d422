"""The raw proxy as API Gateway routes it (`ANY /v1/connections/{id}/proxy/{path+}`), served directly.

API Gateway has already matched the route, so the proxy function serves it without Powertools'
resolver (`oauth_broker.http.direct`): no request body is validated on this route (the provider's
API gets it as it is), so nothing of the resolver is needed, and the proxy's cold start does not
load Powertools' event handler, its OpenAPI validation or the typed routes' models. The typed
Gmail and Contacts routes, test and token are served by the resolver (`functions/proxy/app.py`).

`forward` is the one pass-through: `routes.proxy` (the resolver's route, and the OpenAPI
document's) answers with it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from oauth_broker.http.direct import DirectResponse, serve
from oauth_broker.http.invocation import Invocation
from oauth_broker.proxy.paths import raw_subpath
from oauth_broker.proxy.payload import event_body, gateway_body
from oauth_broker.proxy.service import ProxyRequest, UpstreamResponse, proxy_service
from oauth_broker.services import get_services

__all__ = ["ANY", "forward", "gateway_connection_id", "serve_gateway", "upstream_response"]

ANY = "ANY"

# What Powertools matched for `/v1/connections/<connection_id>/proxy/.+`: a `<name>` is one
# segment of these characters (API Gateway decodes the unsafe ones).
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_GATEWAY_PATH = re.compile(rf"^/v1/connections/(?P<connection_id>{_SEGMENT})/proxy/.+$")


def gateway_connection_id(event: Mapping[str, Any]) -> str | None:
    """The connection id of an event API Gateway routed to the raw proxy (`ANY ...`), else None
    (another route, or a path the raw proxy's route does not match: the resolver answers it)."""
    if not str(event.get("routeKey") or "").startswith(f"{ANY} "):
        return None
    path = str(event.get("rawPath") or "")
    stage = str((event.get("requestContext") or {}).get("stage") or "$default")
    if stage != "$default":
        path = path[len("/" + stage) :]
    match = _GATEWAY_PATH.match(path)
    return match.group("connection_id") if match else None


def forward(invocation: Invocation, connection_id: str) -> UpstreamResponse:
    """The request, as the caller sent it, through `ProxyService` to the connection's provider."""
    request = ProxyRequest(
        method=invocation.method,
        path=raw_subpath(invocation.raw_path, connection_id),
        decoded_path=invocation.path_parameter("path"),
        query=invocation.raw_query,
        headers=invocation.headers,
        body=event_body(invocation.event),
    )
    service = proxy_service(get_services())
    return service.call(
        invocation.principal(), connection_id, request, deadline=invocation.deadline(service.clock)
    )


def upstream_response(upstream: UpstreamResponse) -> DirectResponse:
    """The provider's answer as the Lambda proxy response (text, or base64 for binary bodies)."""
    body, is_base64 = gateway_body(upstream.body, upstream.headers)
    return DirectResponse(upstream.status, body, dict(upstream.headers), is_base64)


def serve_gateway(event: Mapping[str, Any], context: Any, connection_id: str) -> dict[str, Any]:
    """One raw proxy invocation (`connection_id` from `gateway_connection_id(event)`)."""
    return serve(lambda invocation: upstream_response(forward(invocation, connection_id)), event, context)
