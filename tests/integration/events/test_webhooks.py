"""Webhook deliveries: signed as docs/webhooks.md says (checked with the page's own snippet),
retried on failure, failing loudly for Lambda's retries and DLQ, never blocking the publisher."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest

from brokertest.webhooks import sample_connection
from oauth_broker.events.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    LocalEventBridge,
    WebhookDelivery,
    WebhookDeliveryFailed,
    sign,
)
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import REPO_ROOT

from .conftest import SECRET


def documented_verify_signature():
    """`verify_signature` exactly as docs/webhooks.md shows it to receivers."""
    doc = (REPO_ROOT / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    (snippet,) = [b for b in blocks if "def verify_signature" in b]
    namespace: dict = {}
    exec(compile(snippet, "docs/webhooks.md", "exec"), namespace)
    return namespace["verify_signature"]


connection = sample_connection


def test_given_a_published_event_when_delivered_then_the_documented_snippet_verifies_its_signature(hooks):
    verify_signature = documented_verify_signature()

    event = hooks.publish("needs_reauth", connection(), reason="invalid_grant")
    (delivery,) = hooks.receiver.wait_for(1)

    assert verify_signature(SECRET, delivery.headers[SIGNATURE_HEADER], delivery.body) is True
    assert json.loads(delivery.body) == event["detail"]
    assert delivery.headers[EVENT_HEADER] == "connection.needs_reauth"
    assert delivery.headers[DELIVERY_HEADER] == event["detail"]["event_id"]
    assert delivery.headers["Content-Type"] == "application/json"


def test_given_a_real_delivery_when_forged_or_replayed_then_the_documented_snippet_refuses_it(hooks):
    verify_signature = documented_verify_signature()
    hooks.publish("needs_reauth", connection(), reason="invalid_grant")
    (delivery,) = hooks.receiver.wait_for(1)
    header, body = delivery.headers[SIGNATURE_HEADER], delivery.body

    assert verify_signature("another-secret-0123456789", header, body) is False
    assert verify_signature(SECRET, header, body.replace(b"alice", b"mallo")) is False
    assert verify_signature(SECRET, "garbage", body) is False
    stale = int(time.time()) - 3600  # a captured delivery replayed an hour later
    assert verify_signature(SECRET, sign(SECRET.encode(), stale, body), body) is False
    # and the header is exactly t=<unix>,v1=<hex hmac of "t.body">
    t = int(header.split(",")[0].removeprefix("t="))
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={mac}" and abs(time.time() - t) < 60


def test_given_a_receiver_that_fails_twice_when_delivering_then_the_third_attempt_lands(hooks):
    hooks.receiver.answers = [500, 503]
    verify_signature = documented_verify_signature()

    hooks.publish("refresh_failed", connection(status="active"), error="http_503", attempts=4)
    (delivery,) = hooks.receiver.wait_for(1, timeout=15)

    assert hooks.receiver.attempts == 3
    assert verify_signature(SECRET, delivery.headers[SIGNATURE_HEADER], delivery.body)
    assert hooks.bridge.drain(10) and hooks.bridge.failures == []


def test_given_a_receiver_that_keeps_failing_when_delivering_then_the_function_raises_for_the_dlq(hooks):
    hooks.receiver.answers = [500] * 10
    event = LocalEventBridge(lambda e: None).envelope(
        {"source": "oauth-broker", "detail-type": "connection.revoked", "detail": _detail()}
    )

    with pytest.raises(WebhookDeliveryFailed) as caught:
        lambda_runtime.invoke("webhook", event)

    assert caught.value.attempts == 3 and caught.value.code == "http_500"
    assert hooks.receiver.attempts == 3
    message = str(caught.value)
    assert "/hooks/broker" not in message and SECRET not in message and "127.0.0.1" in message


def test_given_a_receiver_that_refuses_an_event_when_delivering_then_it_is_not_retried(hooks):
    hooks.receiver.answers = [400]
    pauses: list[float] = []
    delivery = WebhookDelivery(hooks.world.services, sleep=pauses.append)

    with pytest.raises(WebhookDeliveryFailed) as caught:
        delivery.deliver({"detail-type": "connection.revoked", "detail": _detail()})

    assert caught.value.code == "http_400" and hooks.receiver.attempts == 1 and pauses == []


def test_given_a_rate_limited_receiver_when_delivering_then_its_retry_after_is_honoured(hooks):
    hooks.receiver.answers = [429]
    pauses: list[float] = []
    result = WebhookDelivery(hooks.world.services, sleep=pauses.append).deliver(
        {"detail-type": "connection.revoked", "detail": _detail()}
    )
    assert result.status == "delivered" and result.attempts == 2 and len(pauses) == 1


def test_given_no_webhook_secret_when_an_event_is_published_then_nothing_is_sent_unsigned(hooks):
    resp = hooks.world.request(
        "PATCH",
        "/v1/settings",
        token=hooks.world.token("acme", "root", admin=True),
        json_body={"webhook_secret": None},
    )
    assert resp.status_code == 200

    result = WebhookDelivery(hooks.world.services).deliver({"detail-type": "x", "detail": _detail()})

    assert result.status == "skipped" and result.reason == "no_webhook_secret"
    assert hooks.receiver.attempts == 0


def test_given_another_tenant_without_a_webhook_when_its_event_is_published_then_nothing_is_sent(hooks):
    hooks.publish("revoked", connection(tenant="globex", status="revoked"), reason="deleted")
    assert hooks.bridge.drain(10)
    assert hooks.receiver.attempts == 0


def test_given_a_slow_receiver_when_an_event_is_published_then_the_publisher_does_not_wait(hooks):
    hooks.receiver.delay = 3.0

    started = time.monotonic()
    hooks.publish("revoked", connection(status="revoked"), reason="deleted")
    elapsed = time.monotonic() - started

    # Had the publisher waited for the delivery, it would have taken the receiver's 3 s at least;
    # the margin absorbs a loaded machine's slow put_events.
    assert elapsed < 2.0
    assert len(hooks.receiver.wait_for(1, timeout=15)) == 1


def test_given_a_failing_target_when_the_local_bus_delivers_then_it_retries_like_lambda(hooks):
    calls: list[dict] = []

    def flaky(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("first invocation fails")

    bridge = LocalEventBridge(flaky, retries=2, retry_delay=0.01)
    bridge({"source": "oauth-broker", "detail-type": "connection.created", "detail": _detail()})

    assert bridge.drain(5) and len(calls) == 2 and bridge.failures == []
    assert calls[0]["detail-type"] == "connection.created" and calls[0]["source"] == "oauth-broker"
    assert {"id", "time", "account", "region", "resources", "version"} <= set(calls[0])


def _detail(tenant: str = "acme") -> dict:
    return {
        "event_id": "evt_test",
        "type": "connection.revoked",
        "occurred_at": "2026-01-01T00:00:00Z",
        "tenant": tenant,
        "connection": {"connection_id": "con_x", "status": "revoked"},
    }
