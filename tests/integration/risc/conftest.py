"""A broker whose `google.risc` points at the test transmitter (brokertest.risc), with the fake
Google in-process, a webhook receiver on a loopback socket for the tenant `acme`, and every
published event captured."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from brokertest.risc import Transmitter, build_risc_world
from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
from brokertest.world import Aws, World
from oauth_broker.events.webhooks import LocalEventBridge
from oauth_broker.services import configure
from oauth_broker_dev.fake_google import FakeGoogle

WEBHOOK_SECRET = "whsec-risc-0123456789abcdef"


@dataclass
class RiscWorld:
    world: World
    fake: FakeGoogle
    transmitter: Transmitter
    receiver: WebhookReceiver
    bridge: LocalEventBridge
    published: list[dict[str, Any]]

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        details = [e["detail"] for e in self.published]
        return [d for d in details if type_ is None or d["type"] == type_]


@pytest.fixture
def rw(aws: Aws, tmp_path: Path) -> Iterator[RiscWorld]:
    world, fake, transmitter = build_risc_world(aws, tmp_path, allow_loopback_urls=True)
    receiver = WebhookReceiver().start()
    world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
    published: list[dict[str, Any]] = []
    try:
        configure_webhook(world, receiver.url, WEBHOOK_SECRET)
        bridge = attach_webhook_delivery(world)
        world.services.publisher.listeners.append(published.append)
        yield RiscWorld(world, fake, transmitter, receiver, bridge, published)
    finally:
        receiver.stop()
        configure(None)
