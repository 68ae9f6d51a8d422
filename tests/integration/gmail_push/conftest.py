"""A broker with the fake Google's Pub/Sub pushing to it (brokertest.gmail_push), the tenant
`acme` configured for Gmail push, every published event captured; the fake's push worker is
stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brokertest.gmail_push import PushWorld, build_push_world
from brokertest.world import Aws
from oauth_broker.services import configure


@pytest.fixture
def gp(aws: Aws, tmp_path: Path) -> Iterator[PushWorld]:
    world = build_push_world(aws, tmp_path)
    world.configure()
    try:
        yield world
    finally:
        world.fake.pubsub.close()
        configure(None)
