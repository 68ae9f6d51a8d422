"""DynamoDB and KMS x webhook delivery: the webhook function reads the tenant's settings and
decrypts the webhook secret; when either fails it raises, so Lambda's asynchronous retries
(LocalEventBridge here) deliver the event later, once and signed. No secret reaches a log or body."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from brokertest.aws_recorder import PerFunctionDataKeyCache
from brokertest.faults import AwsFaults, pk_starts
from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook, sample_connection
from brokertest.world import Aws, World, build_world
from oauth_broker.events.webhooks import LocalEventBridge
from oauth_broker.services import configure

SECRET = "whsec-fault-0123456789abcdef"


@dataclass
class Hooks:
    world: World
    receiver: WebhookReceiver
    bridge: LocalEventBridge


@pytest.fixture
def hooks(aws: Aws) -> Iterator[Hooks]:
    world = build_world(aws, allow_loopback_urls=True)
    receiver = WebhookReceiver().start()
    world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
    try:
        configure_webhook(world, receiver.url, SECRET)
        # the bus's rule to the webhook function, with Lambda's two async retries (short pauses)
        yield Hooks(world, receiver, attach_webhook_delivery(world, retries=2, retry_delay=0.05))
    finally:
        receiver.stop()
        configure(None)


# fault -> (client attribute, operation, error code, status, `when`)
FAULTS: dict[str, tuple[str, str, str, int, Any]] = {
    "dynamodb_throttled": (
        "dynamodb",
        "GetItem",
        "ProvisionedThroughputExceededException",
        400,
        pk_starts("TENANT#"),
    ),
    "dynamodb_internal_error": ("dynamodb", "GetItem", "InternalServerError", 500, pk_starts("TENANT#")),
    "dynamodb_timeout": ("dynamodb", "GetItem", "timeout", 0, pk_starts("TENANT#")),
    "kms_throttled": ("kms", "Decrypt", "ThrottlingException", 400, None),
    "kms_internal": ("kms", "Decrypt", "KMSInternalException", 500, None),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_given_a_dependency_failing_once_when_a_webhook_is_delivered_then_the_retry_delivers_it_once(
    hooks: Hooks, faults: AwsFaults, fault: str
) -> None:
    attr, operation, code, status, when = FAULTS[fault]
    hooks.world.services.envelope.cache = PerFunctionDataKeyCache()  # a cold webhook function
    injected = faults.fail(getattr(hooks.world.aws, attr), operation, code, status=status, when=when)

    publisher = hooks.world.services.publisher
    event = publisher.publish("needs_reauth", sample_connection(), reason="invalid_grant")
    assert hooks.bridge.drain()

    assert injected.hits == 1
    assert hooks.bridge.failures == []
    deliveries = hooks.receiver.wait_for(1)
    assert len(deliveries) == 1 and hooks.receiver.attempts == 1  # the receiver saw it once
    assert event["detail"]["event_id"].encode() in deliveries[0].body
    assert SECRET.encode() not in deliveries[0].body
