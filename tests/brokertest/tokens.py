"""Test support for the token lifecycle: a fake clock, AWS call counters, and httpx transports that
break or record the fake Google's answers (nothing reaches a network)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from brokertest.google import CLIENT_ID
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.ids import new_id
from oauth_broker.store.models import ConnectionRecord, OAuthClientRecord
from oauth_broker.timeutil import rfc3339


class FakeClock:
    """Wall and monotonic clocks that only move when told to, or when something sleeps.

    Thread-safe; `sleep` advances both clocks at once instead of waiting, so a test of leases
    and backoff runs in no real time.
    """

    def __init__(self, start: float = 1_800_000_000.0):
        self._lock = threading.Lock()
        self._wall = start
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._wall += max(0.0, seconds)
            self._mono += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)
        with self._lock:
            self.sleeps.pop()


class AwsCallCounter:
    """Counts the API calls a boto3 client makes (`before-call` hooks: nothing is patched).

    `counter["GetItem"]`, `counter.total`, `counter.reset()`; `detach()` unregisters.
    """

    def __init__(self, client: Any):
        self.client = client
        self.calls: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._event = f"before-call.{client.meta.service_model.service_name}.*"
        client.meta.events.register(self._event, self._count)

    def _count(self, model: Any = None, params: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1
            self.params.append((model.name, params or {}))

    def __getitem__(self, operation: str) -> int:
        with self._lock:
            return self.calls[operation]

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.params.clear()

    def detach(self) -> None:
        self.client.meta.events.unregister(self._event, self._count)


class TokenEndpointFaults(httpx.BaseTransport):
    """Wraps the fake Google's transport: the next `count` POSTs to `/token` (or `/revoke`) raise
    `error` (an httpx exception: a timeout or a network failure the WSGI transport cannot make)."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self._lock = threading.Lock()
        self._faults: list[tuple[str, Callable[[httpx.Request], Exception], int]] = []

    def fail_next(self, path: str, error: Callable[[httpx.Request], Exception], count: int = 1) -> None:
        with self._lock:
            self._faults.append((path, error, count))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            for i, (path, error, count) in enumerate(self._faults):
                if request.url.path.endswith(path):
                    if count <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = (path, error, count - 1)
                    raise error(request)
        return self.inner.handle_request(request)


def read_timeout(request: httpx.Request) -> Exception:
    return httpx.ReadTimeout("timed out", request=request)


def connect_error(request: httpx.Request) -> Exception:
    return httpx.ConnectError("connection refused", request=request)


class TokenRecorder(httpx.BaseTransport):
    """Wraps the fake Google's transport and remembers every token it hands out (access, refresh,
    ID tokens): the values a secret scan must never find outside the fake and the ciphertexts."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.tokens: set[str] = set()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/token"):
            response.read()
            try:
                body = json.loads(response.content or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict):
                with self._lock:
                    for name in ("access_token", "refresh_token", "id_token"):
                        if isinstance(body.get(name), str):
                            self.tokens.add(body[name])
        return response


def seed_with_wrong_client_secret(tw: Any) -> ConnectionRecord:
    """A due connection whose OAuth client's secret Google refuses (invalid_client): its refresh
    fails every time."""
    services = tw.services
    client_id = new_id("ocl")
    stamp = rfc3339()
    client = OAuthClientRecord(
        id=client_id,
        tenant="acme",
        name="Misconfigured",
        provider="google-mail",
        client_id=CLIENT_ID,
        enc_client_secret=services.envelope.encrypt(
            b"not-the-secret", EncryptionContext("acme", client_id, "client_secret")
        ),
        secret_hint="…cret",
        created_at=stamp,
        updated_at=stamp,
    )
    services.oauth_clients.create(client)
    return tw.seed(expires_in=400, email="bob@example.com", owner="carol", oauth_client=client)[0]
