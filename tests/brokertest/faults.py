"""Fault injection at the boundaries, for the dependency x flow matrix (tests/integration/faults,
docs/reliability.md).

AWS: `AwsFaults` registers botocore `before-parameter-build.<service>.<Operation>` hooks on the
`aws` fixture's clients (the ones the broker under test uses): the matching call raises the error
a client would see once the SDK has given up (a `ClientError` with the service's error code, or
botocore's `ReadTimeoutError`), or answers a canned response. Nothing is patched; the hook runs
before the call is sent, so moto never sees it.

Google: the fake's own controls (`fake.fail_next`, `rate_limit_next`, `set_api_delay`), and httpx
transports in front of it (`GoogleFaults`) for what a WSGI app cannot do: timeouts, dropped
connections, truncated or non-JSON bodies, oversized bodies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from botocore.exceptions import ClientError, ReadTimeoutError
from werkzeug.test import TestResponse

from brokertest.connect import table_dump
from brokertest.google import CLIENT_SECRET
from brokertest.proxy import ProxyWorld
from brokertest.world import Aws

# What a client may act on: a retry helps (503 + Retry-After) for these AWS faults.
RETRYABLE_AWS = {
    "throttled": ("ProvisionedThroughputExceededException", 400),
    "internal_error": ("InternalServerError", 500),
    "timeout": ("timeout", 0),
}


def aws_error(code: str, status: int, operation: str, client: Any = None) -> Exception:
    """What botocore raises once its retries are spent: the service's modeled exception class for
    `code` (a ClientError subclass, as `client.exceptions.<Code>` catches it), or a read timeout."""
    if code == "timeout":
        return ReadTimeoutError(endpoint_url="https://aws.test/")
    cls = client.exceptions.from_code(code) if client is not None else ClientError
    return cls(
        {
            "Error": {"Code": code, "Message": "injected by the test"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@dataclass
class AwsFault:
    service: str
    operation: str
    error: Callable[[str], Exception] | None
    count: int
    when: Callable[[dict[str, Any]], bool] | None
    response: dict[str, Any] | None = None
    hits: int = 0


@dataclass
class AwsFaults:
    """`fail(client, "PutItem", "ThrottlingException", count=1, when=...)`; `hits` counts injections."""

    aws: Aws
    faults: list[AwsFault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _registered: list[tuple[Any, str]] = field(default_factory=list)

    def fail(
        self,
        client: Any,
        operation: str,
        code: str,
        *,
        status: int = 400,
        count: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AwsFault:
        return self._add(client, operation, lambda op: aws_error(code, status, op, client), count, when, None)

    def answer(
        self,
        client: Any,
        operation: str,
        response: dict[str, Any],
        *,
        count: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AwsFault:
        """The matching call 'succeeds' with `response` (e.g. PutEvents with FailedEntryCount)."""
        return self._add(client, operation, None, count, when, response)

    def _add(
        self,
        client: Any,
        operation: str,
        error: Callable[[str], Exception] | None,
        count: int,
        when: Callable[[dict[str, Any]], bool] | None,
        response: dict[str, Any] | None,
    ) -> AwsFault:
        service = client.meta.service_model.service_id.hyphenize()
        fault = AwsFault(service, operation, error, count, when, response)
        with self._lock:
            self.faults.append(fault)
        if error is not None:
            event = f"before-parameter-build.{service}.{operation}"
            handler = self._raise
        else:
            event = f"before-call.{service}.{operation}"
            handler = self._answer
        if (client, event) not in self._registered:
            client.meta.events.register(event, handler, unique_id=f"fault-{id(self)}-{event}")
            self._registered.append((client, event))
        return fault

    def _take(self, model: Any, params: dict[str, Any], *, answers: bool) -> AwsFault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.operation != model.name
                    or fault.count <= 0
                    or (fault.response is not None) != answers
                ):
                    continue
                if fault.when is not None and not fault.when(params):
                    continue
                fault.count -= 1
                fault.hits += 1
                return fault
        return None

    def _raise(self, model: Any = None, params: Any = None, **_: Any) -> None:
        fault = self._take(model, params or {}, answers=False)
        if fault is not None and fault.error is not None:
            raise fault.error(model.name)

    def _answer(self, model: Any = None, params: Any = None, **_: Any) -> Any:
        # before-call's params are the serialized request: match on its JSON body
        body = (params or {}).get("body") or b"{}"
        try:
            decoded = json.loads(body) if isinstance(body, bytes | str) else {}
        except ValueError:
            decoded = {}
        fault = self._take(model, decoded, answers=True)
        if fault is None or fault.response is None:
            return None
        return _HttpOk(), fault.response

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def detach(self) -> None:
        for client, event in self._registered:
            client.meta.events.unregister(event, unique_id=f"fault-{id(self)}-{event}")
        self._registered.clear()


class _HttpOk:
    status_code = 200
    headers: dict[str, str] = {}
    content = b""
    text = ""


def pk_starts(prefix: str) -> Callable[[dict[str, Any]], bool]:
    """A `when` matching DynamoDB calls on items whose partition key starts with `prefix`."""

    def match(params: dict[str, Any]) -> bool:
        key = params.get("Key") or params.get("Item") or {}
        return str((key.get("pk") or {}).get("S", "")).startswith(prefix)

    return match


def transaction_writes(prefix: str, sk: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """A `when` matching a TransactWriteItems that puts or deletes an item whose partition key
    starts with `prefix` (and whose sort key is `sk`)."""

    def match(params: dict[str, Any]) -> bool:
        for operation in params.get("TransactItems", []):
            for kind in ("Put", "Delete"):
                target = (operation.get(kind) or {}).get("Item") or (operation.get(kind) or {}).get("Key")
                if (
                    target
                    and str(target["pk"].get("S", "")).startswith(prefix)
                    and (sk is None or target["sk"].get("S") == sk)
                ):
                    return True
        return False

    return match


def conditional(params: dict[str, Any]) -> bool:
    return "ConditionExpression" in params


# -- Google-side faults (an httpx transport in front of the fake) -------------------------------------


class GoogleFaults(httpx.BaseTransport):
    """In front of the fake Google: the next `count` requests whose path starts with `path` get
    `make(request)`: a raised httpx error, or a response the WSGI fake cannot produce."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self._lock = threading.Lock()
        self._rules: list[list[Any]] = []
        self.hits = 0

    def next(self, path: str, make: Callable[[httpx.Request], httpx.Response], count: int = 1) -> None:
        with self._lock:
            self._rules.append([path, make, count])

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        rule = None
        with self._lock:
            for r in self._rules:
                if request.url.path.startswith(r[0]) and r[2] > 0:
                    r[2] -= 1
                    rule = r
                    self.hits += 1
                    break
        if rule is not None:
            return rule[1](request)
        return self.inner.handle_request(request)


def raise_(error: type[httpx.HTTPError], message: str) -> Callable[[httpx.Request], httpx.Response]:
    def make(request: httpx.Request) -> httpx.Response:
        raise error(message, request=request)

    return make


def respond(status: int, content: bytes, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def make(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=content, headers={"Content-Type": "application/json", **headers}
        )

    return make


# -- the world the matrix runs in ------------------------------------------------------------------------


@dataclass
class FaultWorld:
    pw: ProxyWorld
    faults: AwsFaults
    google: GoogleFaults
    client: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def world(self) -> Any:
        return self.pw.world

    @property
    def fake(self) -> Any:
        return self.pw.fake

    @property
    def services(self) -> Any:
        return self.pw.world.services

    @property
    def ocl(self) -> str:
        return str(self.client["id"])

    def table(self) -> str:
        return table_dump(self.world)

    def event_types(self) -> list[str]:
        return [e["detail-type"] for e in self.events]

    def register_oauth_client(self, n: int) -> TestResponse:
        """`POST /v1/oauth-clients` as the tenant's admin: client `c{n}` with `oauth_client_secret(n)`."""
        return self.world.request(
            "POST",
            "/v1/oauth-clients",
            token=self.world.token("acme", "root", admin=True),
            json_body={
                "name": f"Client {n}",
                "provider": "google-mail",
                "client_id": f"c{n}.apps.googleusercontent.com",
                "client_secret": oauth_client_secret(n),
            },
        )


def oauth_client_secret(n: int) -> str:
    return f"GOCSPX-fault-secret-{n:04d}"


# -- assertions ----------------------------------------------------------------------------------------


def assert_retry_later(
    resp: TestResponse, status: int = 503, code: str = "service_unavailable"
) -> dict[str, Any]:
    """A problem document the client can act on: `status`, a stable code, and when to retry."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.headers.get("Content-Type", "").startswith("application/problem+json")
    body: dict[str, Any] = json.loads(resp.get_data())
    assert body["status"] == status and body["code"] == code, body
    assert "Traceback" not in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) >= 1
    return body


def assert_no_plaintext(fw: FaultWorld, *secrets: str) -> None:
    dump = fw.table()
    for secret in (CLIENT_SECRET, *secrets):
        assert secret not in dump
