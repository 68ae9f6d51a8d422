"""A broker with the fake Google, the tenant's return origin allowed and an OAuth client registered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from brokertest.connect import allow_return_origins, create_oauth_client
from brokertest.world import World
from oauth_broker_dev.fake_google import FakeGoogle


@dataclass
class ConnectWorld:
    world: World
    fake: FakeGoogle
    client: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ocl(self) -> str:
        return str(self.client["id"])

    def event_types(self) -> list[str]:
        return [e["detail-type"] for e in self.events]

    def connection_items(self) -> list[dict[str, Any]]:
        items = self.world.aws.dynamodb.scan(TableName=self.world.aws.resources.table_name)["Items"]
        return [i for i in items if i["pk"]["S"].startswith("CON#")]


@pytest.fixture
def cw(google_world) -> Iterator[ConnectWorld]:
    world, fake = google_world
    allow_return_origins(world)
    client = create_oauth_client(world)
    out = ConnectWorld(world, fake, client)
    world.services.event_listeners.append(out.events.append)
    yield out
