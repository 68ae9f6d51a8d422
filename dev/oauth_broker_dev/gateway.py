"""An API Gateway HTTP API, locally: routes from template.yaml, the Lambda authorizer with its
cache, payload-format-2.0 events, the real handlers, and the HTTP API's request payload limit
(10 MB: a larger body is refused with 413 before any function runs, as deployed). The code under
test is the Lambda code.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.wrappers import Request, Response

from oauth_broker_dev.template import Route, authorizer_settings, http_routes

TEXT_TYPES = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)
Invoker = Callable[[str, dict[str, Any]], Any]
# API Gateway HTTP API's quota "Payload size": 10 MB per request (not adjustable).
MAX_REQUEST_PAYLOAD = 10 * 1024 * 1024


@dataclass(frozen=True)
class CompiledRoute:
    route: Route
    regex: re.Pattern[str]
    score: tuple[int, ...]

    @classmethod
    def of(cls, route: Route) -> CompiledRoute:
        parts, score = [], []
        for seg in route.path.strip("/").split("/"):
            m = re.fullmatch(r"\{(\w+)(\+?)\}", seg)
            if m and m.group(2):
                parts.append(f"(?P<{m.group(1)}>.+)")
                score.append(0)
            elif m:
                parts.append(f"(?P<{m.group(1)}>[^/]+)")
                score.append(1)
            else:
                parts.append(re.escape(seg))
                score.append(2)
        score.append(0 if route.method == "ANY" else 1)
        return cls(route, re.compile("^/" + "/".join(parts) + "$"), tuple(score))


def _json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _payload_too_large(limit: int) -> Response:
    """The 413 as a problem document (the broker's error shape; deployed, API Gateway answers it
    itself with {"message": "Request Entity Too Large"})."""
    from oauth_broker.errors import PayloadTooLarge
    from oauth_broker.http.problems import PROBLEM_CONTENT_TYPE, problem_body

    err = PayloadTooLarge(f"the request body is larger than API Gateway's limit of {limit} bytes")
    body = problem_body(err.status, err.code, err.title, err.detail, max_bytes=limit)
    return Response(json.dumps(body), status=err.status, content_type=PROBLEM_CONTENT_TYPE)


def authorizer_event(event: dict[str, Any], route_path: str, identity: list[str | None]) -> dict[str, Any]:
    """The REQUEST authorizer's event (payload 2.0) for a request event on route `route_path`."""
    return {
        **{k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")},
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:000000000000:local/$default/"
        f"{event['requestContext']['http']['method']}{route_path}",
        "identitySource": identity,
    }


class LocalHttpApi:
    """A WSGI app that behaves like the deployed HTTP API in front of the functions."""

    def __init__(
        self,
        invoke: Invoker,
        *,
        routes: Iterable[Route] | None = None,
        domain: str = "127.0.0.1:3000",
        max_payload: int = MAX_REQUEST_PAYLOAD,
    ):
        self.invoke = invoke
        self.routes = [CompiledRoute.of(r) for r in (routes if routes is not None else http_routes())]
        settings = authorizer_settings()
        self.auth_function = "AuthorizerFunction"
        self.auth_ttl = float(settings["ttl_seconds"])
        self.identity_headers = [h.lower() for h in settings["headers"]]
        self.domain = domain
        self.max_payload = max_payload
        self._auth_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()
        self.authorizer_calls = 0

    # -- routing ---------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        best: tuple[tuple[int, ...], CompiledRoute, re.Match[str]] | None = None
        for cr in self.routes:
            if cr.route.method not in (method, "ANY"):
                continue
            m = cr.regex.match(path)
            if m and (best is None or cr.score > best[0]):
                best = (cr.score, cr, m)
        if best is None:
            return None
        params = {k: unquote(v) for k, v in best[2].groupdict().items()}
        return best[1].route, params

    # -- events ----------------------------------------------------------------------------
    def _base_event(self, req: Request, route: Route | None, params: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for k, v in req.headers.items():
            key = k.lower()
            if key == "cookie":
                continue
            headers[key] = f"{headers[key]},{v}" if key in headers else v
        headers.setdefault("x-forwarded-for", req.remote_addr or "127.0.0.1")
        headers.setdefault("x-forwarded-proto", "http")
        raw_query = req.query_string.decode("latin-1")
        query: dict[str, str] = {}
        for k, v in parse_qsl(raw_query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
        cookies = [c.strip() for c in req.headers.get("Cookie", "").split(";") if c.strip()]
        now = time.time()
        route_key = route.route_key if route else "$default"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.raw_path(req),
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": self.domain,
                "domainPrefix": "local",
                "http": {
                    "method": req.method,
                    "path": req.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": req.remote_addr or "127.0.0.1",
                    "userAgent": req.headers.get("User-Agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        return event

    def _authorize(self, event: dict[str, Any], route: Route) -> Response | dict[str, Any]:
        identity = [event["headers"].get(h) for h in self.identity_headers]
        if not all(identity):
            return _json_response(401, {"message": "Unauthorized"})
        cache_key = "\n".join(v or "" for v in identity)
        now = time.monotonic()
        with self._cache_lock:
            hit = self._auth_cache.get(cache_key)
        if hit and hit[0] > now:
            decision = hit[1]
        else:
            auth_event = authorizer_event(event, route.path, identity)
            try:
                self.authorizer_calls += 1
                decision = self.invoke(self.auth_function, auth_event)
            except Exception:
                return _json_response(500, {"message": "Internal Server Error"})
            if self.auth_ttl > 0:
                with self._cache_lock:
                    self._auth_cache[cache_key] = (now + self.auth_ttl, decision)
        if not isinstance(decision, dict) or decision.get("isAuthorized") is not True:
            return _json_response(403, {"message": "Forbidden"})
        return {"lambda": decision.get("context") or {}}

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    @staticmethod
    def raw_path(req: Request) -> str:
        raw = req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI")
        return str(raw).split("?", 1)[0] if raw else req.path

    def _read_body(self, req: Request) -> bytes | None:
        """The request body, or None when it is over the payload limit (read no further)."""
        if req.content_length is not None and req.content_length > self.max_payload:
            return None
        body = req.stream.read(self.max_payload + 1)
        return None if len(body) > self.max_payload else body

    def handle(self, req: Request) -> Response:
        found = self.match(req.method, self.raw_path(req))
        if found is None:
            return _json_response(404, {"message": "Not Found"})
        body = self._read_body(req)
        if body is None:
            return _payload_too_large(self.max_payload)
        route, params = found
        event = self._base_event(req, route, params)
        if route.authorized:
            auth = self._authorize(event, route)
            if isinstance(auth, Response):
                return auth
            event["requestContext"]["authorizer"] = auth
        if body:
            ctype = req.headers.get("Content-Type", "")
            if ctype.startswith(TEXT_TYPES):
                try:
                    event["body"] = body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
            else:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        try:
            result = self.invoke(route.function, event)
        except Exception:
            return _json_response(500, {"message": "Internal Server Error"})
        return self._to_response(result)

    @staticmethod
    def _to_response(result: Any) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return Response(json.dumps(result), status=200, content_type="application/json")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        resp = Response(data, status=int(result["statusCode"]))
        resp.headers.clear()
        for k, v in (result.get("headers") or {}).items():
            resp.headers[k] = str(v)
        for k, values in (result.get("multiValueHeaders") or {}).items():
            for v in values:
                resp.headers.add(k, str(v))
        for cookie in result.get("cookies") or []:
            resp.headers.add("Set-Cookie", cookie)
        if "Content-Type" not in resp.headers:
            resp.headers["Content-Type"] = "application/json"
        return resp
