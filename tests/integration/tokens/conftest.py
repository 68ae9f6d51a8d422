"""A broker with the fake Google in-process, every published event captured, and a fault-injecting
transport in front of the fake's token and revocation endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from brokertest.google import GOOGLE_BASE, build_google_world, seed_connection, seed_oauth_client
from brokertest.tokens import TokenEndpointFaults
from brokertest.world import World
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.services import configure
from oauth_broker.store.models import ConnectionRecord, OAuthClientRecord
from oauth_broker.tokens.refresher import TokenRefresher
from oauth_broker_dev.fake_google import FakeGoogle


@dataclass
class TokenWorld:
    world: World
    fake: FakeGoogle
    faults: TokenEndpointFaults
    events: list[dict[str, Any]] = field(default_factory=list)
    client: OAuthClientRecord | None = None

    @property
    def services(self) -> Any:
        return self.world.services

    def refresher(self, **kwargs: Any) -> TokenRefresher:
        return TokenRefresher(self.world.services, **kwargs)

    def seed(self, **kwargs: Any) -> tuple[ConnectionRecord, dict[str, Any]]:
        if self.client is None:
            self.client = seed_oauth_client(self.world)
        kwargs.setdefault("oauth_client", self.client)
        return seed_connection(self.world, self.fake, **kwargs)

    def stored(self, connection_id: str) -> ConnectionRecord:
        rec = self.world.services.connections.get(connection_id)
        assert rec is not None
        return rec

    def decrypt(self, rec: ConnectionRecord, purpose: str) -> str:
        blob = rec.enc_refresh_token if purpose == "refresh_token" else rec.enc_access_token
        assert blob is not None
        ctx = EncryptionContext(rec.tenant, rec.id, purpose)
        return self.world.services.envelope.decrypt(blob, ctx).decode()

    def event_types(self) -> list[str]:
        return [e["detail-type"] for e in self.events]

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.events if e["detail-type"] == kind]

    def token_requests(self) -> int:
        return int(self.fake.token_requests["refresh_token"])


def _token_world(aws: Any, tmp_path: Any, **fake_config: Any) -> TokenWorld:
    world, fake = build_google_world(aws, tmp_path, **fake_config)
    faults = TokenEndpointFaults(world.transport.routes[GOOGLE_BASE])
    world.transport.mount(GOOGLE_BASE, faults)
    tw = TokenWorld(world, fake, faults)
    world.services.publisher.listeners.append(tw.events.append)
    return tw


@pytest.fixture
def tw(aws: Any, tmp_path: Any) -> Iterator[TokenWorld]:
    """Google as it is: refresh tokens do not rotate."""
    try:
        yield _token_world(aws, tmp_path)
    finally:
        configure(None)


@pytest.fixture
def rotating_tw(aws: Any, tmp_path: Any) -> Iterator[TokenWorld]:
    """A provider that rotates refresh tokens: each refresh answers a new one and kills the old."""
    try:
        yield _token_world(aws, tmp_path, rotate_refresh_tokens=True)
    finally:
        configure(None)
