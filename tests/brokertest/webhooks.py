"""Webhooks in tests: a receiver on a real loopback socket, and the local EventBridge stand-in that
hands published events to the webhook function (as `make dev` does)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from brokertest.world import World
from oauth_broker.events.webhooks import LocalEventBridge
from oauth_broker.store.models import ConnectionRecord
from oauth_broker_dev import lambda_runtime


@dataclass
class Delivery:
    headers: Headers  # case-insensitive, as HTTP headers are
    body: bytes
    received_at: float


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records deliveries. `answers` is a queue of statuses to
    reply with (then 204 for good); `delay` makes every answer slow."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: int = 0
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.attempts += 1
            status = self.answers.pop(0) if self.answers else 204
            if 200 <= status < 300:
                self.deliveries.append(Delivery(Headers(request.headers), body, time.time()))
        return Response(status=status)(environ, start_response)

    def start(self) -> WebhookReceiver:
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/hooks/broker"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            time.sleep(0.02)
        with self._lock:
            return list(self.deliveries)


def attach_webhook_delivery(
    world: World, *, retries: int = 0, retry_delay: float | None = None
) -> LocalEventBridge:
    """Every event the world's publisher emits from now on reaches the webhook function (in a
    background thread), as EventBridge's rule does in AWS. Returns the bridge (`drain()` waits).
    `retries`: Lambda's async retries of a failed invocation, `retry_delay` seconds apart."""
    delay = {} if retry_delay is None else {"retry_delay": retry_delay}
    bridge = LocalEventBridge(lambda event: lambda_runtime.invoke("webhook", event), retries=retries, **delay)
    world.services.publisher.listeners.append(bridge)
    return bridge


def configure_webhook(world: World, url: str, secret: str, *, tenant: str = "acme") -> None:
    """Sets the tenant's webhook URL and secret through PATCH /v1/settings (the real route)."""
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=world.token(tenant, "root", admin=True),
        json_body={"webhook_url": url, "webhook_secret": secret},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)


def sample_connection(**fields: Any) -> ConnectionRecord:
    """A `needs_reauth` connection of alice at acme, for publishing events (fields override)."""
    base: dict[str, Any] = dict(
        id="con_0123456789abcdef0123456789abcdef",
        tenant="acme",
        owner="alice",
        name="Work mail",
        provider="google-mail",
        oauth_client_id="ocl_1",
        account_email="alice@example.com",
        status="needs_reauth",
        status_reason="invalid_grant",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    return ConnectionRecord(**{**base, **fields})
