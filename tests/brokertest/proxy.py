"""Test support for the proxy, Gmail and Contacts routes: a broker with the fake Google in-process
(and, optionally, more fake upstreams), seeded connections, and calls through the gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from werkzeug.test import TestResponse

from brokertest.google import CLIENT_ID, CLIENT_SECRET, GOOGLE_BASE, seed_connection, seed_oauth_client
from brokertest.world import Aws, World, build_world
from oauth_broker.store.models import ConnectionRecord, OAuthClientRecord
from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig
from oauth_broker_dev.fake_google.controls import RecordedRequest
from oauth_broker_dev.fake_google.local import providers_override

ALICE = "alice@example.com"
BOB = "bob@example.com"


@dataclass
class ProxyWorld:
    world: World
    fake: FakeGoogle
    clients: dict[tuple[str, str], OAuthClientRecord] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return self.world.services

    def connect(
        self,
        scopes: list[str] | tuple[str, ...] = ("gmail.readonly",),
        *,
        provider: str = "google-mail",
        tenant: str = "acme",
        owner: str = "alice",
        email: str = ALICE,
        **fields: Any,
    ) -> ConnectionRecord:
        """A connection as a completed consent leaves it (real tokens from the fake, encrypted)."""
        key = (tenant, provider)
        if key not in self.clients:
            self.clients[key] = seed_oauth_client(self.world, tenant=tenant, provider=provider)
        rec, _ = seed_connection(
            self.world,
            self.fake,
            tenant=tenant,
            owner=owner,
            email=email,
            provider=provider,
            scopes=list(scopes),
            oauth_client=self.clients[key],
            **fields,
        )
        return rec

    def update(self, rec: ConnectionRecord, **changes: Any) -> ConnectionRecord:
        current = self.services.connections.get(rec.id)
        assert current is not None
        saved: ConnectionRecord = self.services.connections.save(
            current.model_copy(update=changes), expected_version=current.version
        )
        return saved

    def token(self, tenant: str = "acme", user: str = "alice", *, admin: bool = False) -> str:
        return self.world.token(tenant, user, admin=admin)

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str = "alice",
        tenant: str = "acme",
        admin: bool = False,
        **kwargs: Any,
    ) -> TestResponse:
        return self.world.request(method, path, token=self.token(tenant, user, admin=admin), **kwargs)

    def proxy(
        self, rec: ConnectionRecord | str, path: str, method: str = "GET", **kwargs: Any
    ) -> TestResponse:
        con_id = rec if isinstance(rec, str) else rec.id
        return self.call(method, f"/v1/connections/{con_id}/proxy/{path}", **kwargs)

    def api_requests(self) -> list[RecordedRequest]:
        """What reached the fake's Gmail and People APIs (and userinfo), oldest first."""
        return [r for r in self.fake.requests if r.endpoint in ("gmail", "people", "userinfo")]


def problem(resp: TestResponse) -> dict[str, Any]:
    """The response's problem document (asserting that it is one)."""
    assert resp.headers.get("Content-Type", "").startswith("application/problem+json"), resp.get_data()[:300]
    body: dict[str, Any] = json.loads(resp.get_data())
    return body


def build_proxy_world(
    aws: Aws,
    tmp_path: Path,
    *,
    extra_providers: dict[str, Any] | None = None,
    upstreams: dict[str, Any] | None = None,
    world_config: dict[str, Any] | None = None,
    **fake_config: Any,
) -> ProxyWorld:
    """The fake Google at https://fake-google.test, plus `upstreams` (base URL -> WSGI app) serving
    `extra_providers` (catalog entries), all in-process."""
    fake = FakeGoogle(
        FakeGoogleConfig(base_url=GOOGLE_BASE, clients={CLIENT_ID: CLIENT_SECRET}, **fake_config)
    )
    document = providers_override(GOOGLE_BASE)
    document["providers"].update(extra_providers or {})
    providers = tmp_path / "providers.proxy-tests.json"
    providers.write_text(json.dumps(document))
    world = build_world(aws, providers_file=str(providers), **(world_config or {}))
    world.transport.mount(GOOGLE_BASE, httpx.WSGITransport(app=fake.app))
    for base, app in (upstreams or {}).items():
        world.transport.mount(base, httpx.WSGITransport(app=app))
    return ProxyWorld(world, fake)
