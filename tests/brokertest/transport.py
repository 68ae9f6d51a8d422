"""httpx transports for tests: route by URL prefix to in-process fakes; nothing reaches a network."""

from __future__ import annotations

import httpx


class RoutingTransport(httpx.BaseTransport):
    """Sends each request to the transport registered for the longest matching URL prefix."""

    def __init__(self, routes: dict[str, httpx.BaseTransport] | None = None):
        self.routes: dict[str, httpx.BaseTransport] = dict(routes or {})

    def mount(self, prefix: str, transport: httpx.BaseTransport) -> None:
        self.routes[prefix.rstrip("/")] = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        for prefix in sorted(self.routes, key=len, reverse=True):
            if url == prefix or url.startswith(prefix + "/") or url.startswith(prefix + "?"):
                return self.routes[prefix].handle_request(request)
        raise httpx.ConnectError(f"no test route for {request.url.host} (tests never reach a network)")
