"""Contract tests: real client libraries against `oauth-broker dev`'s server (`LocalBroker`) on
127.0.0.1, with its embedded moto and fake Google. Started and stopped by each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from brokertest.google import seed_connection, seed_oauth_client
from oauth_broker import config
from oauth_broker.services import get_services
from oauth_broker.store.models import ConnectionRecord
from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions


@dataclass
class Contract:
    broker: LocalBroker
    fake: Any  # the broker's FakeGoogle

    def connect(self, scopes: list[str], **kwargs: Any) -> tuple[ConnectionRecord, str]:
        """A seeded connection and its Google access token."""
        world = SimpleNamespace(services=get_services())
        client = seed_oauth_client(world)  # type: ignore[arg-type]
        rec, tokens = seed_connection(world, self.fake, scopes=scopes, oauth_client=client, **kwargs)  # type: ignore[arg-type]
        return rec, tokens["access_token"]

    def proxy_base(self, rec: ConnectionRecord) -> str:
        return f"{self.broker.base_url}/v1/connections/{rec.id}/proxy/"


@pytest.fixture
def contract() -> Iterator[Contract]:
    saved = dict(os.environ)
    broker = LocalBroker(LocalBrokerOptions(port=0)).start()
    try:
        yield Contract(broker, broker.fake_google)
    finally:
        broker.stop()
        os.environ.clear()
        os.environ.update(saved)
        config.load_config.cache_clear()
