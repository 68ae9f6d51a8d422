"""A whole connection lifecycle (refresh with rotation, a failed refresh, a dead grant, the sweep,
disconnects that succeed and fail) with every trace collected: published events, EventBridge
entries, webhook bodies, log lines, API answers and DynamoDB items. No token or secret may
appear in any of them (DynamoDB holds tokens only as ciphertext)."""

from __future__ import annotations

import json

import httpx

from brokertest.google import (
    CLIENT_SECRET,
    GOOGLE_BASE,
    build_google_world,
    seed_connection,
    seed_oauth_client,
)
from brokertest.tokens import AwsCallCounter, TokenRecorder
from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
from oauth_broker.services import configure
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import REPO_ROOT

WEBHOOK_SECRET = "whsec-lifecycle-scan-0123456789"
HOOKS = "https://hooks.test"


def test_given_a_full_lifecycle_when_every_trace_is_collected_then_no_token_or_secret_is_in_it(
    aws, tmp_path, log_lines
):
    world, fake = build_google_world(aws, tmp_path, rotate_refresh_tokens=True)
    bridge = None
    try:
        recorder = TokenRecorder(world.transport.routes[GOOGLE_BASE])
        world.transport.mount(GOOGLE_BASE, recorder)
        receiver = WebhookReceiver()
        world.transport.mount(HOOKS, httpx.WSGITransport(app=receiver))
        configure_webhook(world, f"{HOOKS}/broker", WEBHOOK_SECRET)
        events: list[dict] = []
        world.services.publisher.listeners.append(events.append)
        bridge = attach_webhook_delivery(world)
        put_events = AwsCallCounter(world.aws.events)
        answers: list[str] = []
        seeded: set[str] = set()

        def call(method: str, path: str, user: str = "alice") -> int:
            resp = world.request(method, path, token=world.token("acme", user))
            answers.append(resp.get_data(as_text=True))
            return resp.status_code

        client = seed_oauth_client(world)

        def seed(**kw):
            rec, tokens = seed_connection(world, fake, oauth_client=client, **kw)
            seeded.update(v for k, v in tokens.items() if k.endswith("token"))
            return rec

        a = seed(expires_in=0)
        assert call("POST", f"/v1/connections/{a.id}/refresh") == 200  # refresh, refresh token rotated
        fake.fail_next("token", status=503, count=20)
        assert call("POST", f"/v1/connections/{a.id}/refresh") == 502  # refresh_failed
        fake.clear_failures()
        fake.revoke_all_for("alice@example.com")
        assert call("POST", f"/v1/connections/{a.id}/refresh") == 409  # needs_reauth
        b = seed(email="bob@example.com", owner="bob", expires_in=400)
        sweep = lambda_runtime.invoke("refresh", json.loads((REPO_ROOT / "events/refresh.json").read_text()))
        assert sweep["refreshed"] == 1
        assert call("DELETE", f"/v1/connections/{b.id}", user="bob") == 204
        c = seed(email="bob@example.com", owner="bob")
        fake.fail_next("revoke", status=500, count=20)
        assert call("DELETE", f"/v1/connections/{c.id}", user="bob") == 200  # revocation_failed
        fake.clear_failures()
        assert call("DELETE", f"/v1/connections/{a.id}") == 204
        assert bridge.drain(30)

        kinds = {e["detail-type"] for e in events}
        assert {
            "connection.refresh_failed",
            "connection.needs_reauth",
            "connection.revoked",
            "connection.revocation_failed",
            "connection.deleted",
        } <= kinds
        assert len(receiver.deliveries) == len(events)

        secrets = recorder.tokens | seeded | {CLIENT_SECRET, WEBHOOK_SECRET}
        assert len(recorder.tokens) >= 4  # the scan knows the refreshed and rotated tokens too
        assert "connection token refreshed" in log_lines.getvalue()  # the scan sees the logs
        traces = {
            "events": json.dumps(events),
            "eventbridge": json.dumps([p for op, p in put_events.params if op == "PutEvents"], default=str),
            "webhooks": b"".join(d.body for d in receiver.deliveries).decode(),
            "answers": "\n".join(answers),
            "logs": log_lines.getvalue(),
        }
        for name, text in traces.items():
            leaked = [s[:12] + "…" for s in secrets if s in text]
            assert not leaked, f"{name} contains secrets: {leaked}"
            if name in ("events", "webhooks", "answers"):
                assert "enc_" not in text, f"{name} carries a ciphertext attribute"
        items = world.aws.dynamodb.scan(TableName=world.aws.resources.table_name)["Items"]
        # the scans above cover the audit trail: its records in the table, its events on the bus
        assert any(item["pk"]["S"] == "AUDIT#acme" for item in items)
        assert "audit.connection.deleted" in traces["eventbridge"]
        stored = json.dumps(items)
        assert not [s for s in secrets if s in stored], "a DynamoDB attribute holds a plaintext secret"
        plain = {"refresh_token", "access_token", "id_token", "client_secret", "webhook_secret"}
        assert not [name for item in items for name in item if name in plain]
    finally:
        if bridge is not None:
            bridge.drain(30)
        configure(None)
