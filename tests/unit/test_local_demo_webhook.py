"""The demo page's webhook receiver (`oauth_broker_dev.demo_webhook`): deliveries are verified as
docs/webhooks.md says (HMAC-SHA256 over "<t>.<body>", a recent timestamp), duplicates dropped by
event id, and each tenant's admin reads and configures only that tenant's receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from oauth_broker_dev import devidp
from oauth_broker_dev.demo_webhook import DemoWebhooks

BASE = "http://127.0.0.1:3000"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))  # the dev-idp key of this test only
    hooks = DemoWebhooks(BASE)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        from werkzeug.wrappers import Request

        return hooks(Request(environ))(environ, start_response)

    return Client(app)


def admin(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {devidp.mint(tenant, f'admin@{tenant}', admin=True)}"}


def receiver(client: Client, tenant: str) -> tuple[str, str]:
    """Creates the tenant's receiver: (its path, its secret)."""
    resp = client.post("/demo/webhook/receivers", headers=admin(tenant))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["webhook_url"].startswith(f"{BASE}/demo/webhook/")
    return body["webhook_url"].removeprefix(BASE), body["webhook_secret"]


def signed(secret: str, body: bytes, at: int | None = None) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-OAuth-Broker-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def event(tenant: str, event_id: str = "evt_1", message_id: str = "18c2a") -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "type": "gmail.messages_added",
            "tenant": tenant,
            "connection_id": "con_1",
            "history_id": "1001",
            "messages": [{"id": message_id, "thread_id": message_id, "label_ids": ["INBOX"]}],
        },
        separators=(",", ":"),
    ).encode()


def events(client: Client, tenant: str, after: int = 0) -> list[dict[str, Any]]:
    resp = client.get(f"/demo/webhook/events?after={after}", headers=admin(tenant))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [e["event"] for e in resp.get_json()["events"]]


def test_given_a_signed_delivery_when_received_then_the_tenants_admin_reads_it(client: Client) -> None:
    path, secret = receiver(client, "acme")
    body = event("acme")

    resp = client.post(path, data=body, headers=signed(secret, body))

    assert resp.status_code == 204
    assert [e["messages"][0]["id"] for e in events(client, "acme")] == ["18c2a"]


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "changed body", "five minutes old", "no signature"],
)
def test_given_a_delivery_not_signed_by_the_receivers_secret_when_received_then_it_is_refused_and_not_kept(
    client: Client, tamper: str
) -> None:
    path, secret = receiver(client, "acme")
    body = event("acme")
    headers = {
        "wrong secret": signed("another-secret-of-enough-length", body),
        "changed body": signed(secret, event("acme", message_id="other")),
        "five minutes old": signed(secret, body, at=int(time.time()) - 301),
        "no signature": {"Content-Type": "application/json"},
    }[tamper]

    resp = client.post(path, data=body, headers=headers)

    assert resp.status_code == 401
    assert events(client, "acme") == []


def test_given_the_same_event_delivered_twice_when_read_then_it_is_kept_once(client: Client) -> None:
    path, secret = receiver(client, "acme")
    body = event("acme")

    for _ in range(2):
        assert client.post(path, data=body, headers=signed(secret, body)).status_code == 204

    assert len(events(client, "acme")) == 1


def test_given_two_tenants_when_each_admin_reads_then_each_sees_only_its_own_events(client: Client) -> None:
    acme_path, acme_secret = receiver(client, "acme")
    globex_path, globex_secret = receiver(client, "globex")
    acme_body, globex_body = event("acme", "evt_a", "m-acme"), event("globex", "evt_g", "m-globex")
    client.post(acme_path, data=acme_body, headers=signed(acme_secret, acme_body))
    client.post(globex_path, data=globex_body, headers=signed(globex_secret, globex_body))

    assert [e["messages"][0]["id"] for e in events(client, "acme")] == ["m-acme"]
    assert [e["messages"][0]["id"] for e in events(client, "globex")] == ["m-globex"]
    # another tenant's event, signed with this receiver's secret, is not this tenant's
    misfiled = client.post(acme_path, data=globex_body, headers=signed(acme_secret, globex_body))
    assert misfiled.status_code == 400


def test_given_no_admin_token_when_reading_or_creating_then_401(client: Client) -> None:
    member = {"Authorization": f"Bearer {devidp.mint('acme', 'alice')}"}
    forged = {"Authorization": f"Bearer {devidp.mint('acme', 'root', admin=True, issuer='https://evil')}"}

    for headers in ({}, member, forged):
        assert client.get("/demo/webhook/events", headers=headers).status_code == 401
        assert client.post("/demo/webhook/receivers", headers=headers).status_code == 401


def test_given_events_when_polled_after_a_sequence_number_then_only_newer_ones_come(client: Client) -> None:
    path, secret = receiver(client, "acme")
    for i in range(3):
        body = event("acme", f"evt_{i}", f"m{i}")
        client.post(path, data=body, headers=signed(secret, body))

    resp = client.get("/demo/webhook/events?after=2", headers=admin("acme"))

    assert [e["event"]["event_id"] for e in resp.get_json()["events"]] == ["evt_2"]
    assert resp.get_json()["last_seq"] == 3
