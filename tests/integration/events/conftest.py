"""A broker whose tenant has a webhook pointing at a receiver on a real loopback socket, and the
local EventBridge stand-in handing every published event to the webhook function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
from brokertest.world import World, build_world
from oauth_broker.events.webhooks import LocalEventBridge
from oauth_broker.services import configure

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class HookWorld:
    world: World
    receiver: WebhookReceiver
    bridge: LocalEventBridge

    def publish(self, event_type: str, conn: Any, **extra: Any) -> dict[str, Any]:
        return self.world.services.publisher.publish(event_type, conn, **extra)


@pytest.fixture
def hooks(aws: Any) -> Iterator[HookWorld]:
    world = build_world(aws, allow_loopback_urls=True)
    receiver = WebhookReceiver().start()
    world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
    try:
        configure_webhook(world, receiver.url, SECRET)
        yield HookWorld(world, receiver, attach_webhook_delivery(world))
    finally:
        receiver.stop()
        configure(None)
