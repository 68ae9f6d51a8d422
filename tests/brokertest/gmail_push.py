"""Gmail push in-process: the broker (`ProxyWorld`), the fake Google with its Pub/Sub topic and a
push subscription to the broker's `POST /v1/google/gmail-push`, delivered through the world's
gateway (the fake's push worker thread calls it as Pub/Sub would, with a signed OIDC token), and
the tenant's `gmail_push` settings made through PATCH /v1/settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from werkzeug.test import TestResponse

from brokertest.proxy import ALICE, ProxyWorld, build_proxy_world
from brokertest.world import BROKER_BASE, Aws
from oauth_broker.store.gmail_watches import GmailWatchStore
from oauth_broker.store.models import ConnectionRecord, GmailWatchRecord

TOPIC = "projects/acme-prod/topics/gmail"
SUBSCRIPTION = "projects/acme-prod/subscriptions/oauth-broker"
PUSH_PATH = "/v1/google/gmail-push"
PUSH_URL = f"{BROKER_BASE}{PUSH_PATH}"
AUDIENCE = PUSH_URL
SERVICE_ACCOUNT = "gmail-push@acme-prod.iam.gserviceaccount.com"
GMAIL_SETTINGS = {"topic": TOPIC, "push_audience": AUDIENCE, "push_service_account": SERVICE_ACCOUNT}


@dataclass
class PushWorld:
    pw: ProxyWorld
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fake(self) -> Any:
        return self.pw.fake

    @property
    def services(self) -> Any:
        return self.pw.services

    @property
    def watches(self) -> GmailWatchStore:
        return GmailWatchStore(self.services.table)

    def configure(self, tenant: str = "acme", settings: dict[str, Any] | None = None) -> TestResponse:
        resp = self.pw.call(
            "PATCH",
            "/v1/settings",
            tenant=tenant,
            user="root",
            admin=True,
            json_body={"gmail_push": settings if settings is not None else GMAIL_SETTINGS},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp

    def watch(self, rec: ConnectionRecord, body: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        return self.pw.call(
            "PUT", f"/v1/connections/{rec.id}/gmail/watch", json_body=body or {}, tenant=rec.tenant, **kwargs
        )

    def watched(self, scopes: tuple[str, ...] = ("gmail.readonly",), **fields: Any) -> ConnectionRecord:
        rec = self.pw.connect(scopes, **fields)
        resp = self.watch(rec, user=rec.owner)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert self.fake.pubsub.drain(10.0)  # nothing of before the watch is still on its way
        return rec

    def stored_watch(self, rec: ConnectionRecord) -> GmailWatchRecord | None:
        return self.watches.get(rec.account_email or "", rec.id)

    def deliver_mail(
        self, to: str = ALICE, subject: str = "Hello", *, text: str = "Secret body text", **kwargs: Any
    ) -> str:
        """A message arrives in `to`'s mailbox (the fake publishes Gmail's notification), and
        every push it causes has been answered; the message's id."""
        message = self.fake.deliver_message(to, "carol@example.org", subject, text, **kwargs)
        assert self.fake.pubsub.drain(10.0), "the fake's pushes were not all delivered"
        return str(message.id)

    def gmail_events(self, event_type: str = "gmail.messages_added") -> list[dict[str, Any]]:
        return [e["detail"] for e in self.events if e["detail-type"] == event_type]

    def push(self, body: dict[str, Any] | bytes, token: str | None) -> TestResponse:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.pw.world.request("POST", PUSH_PATH, data=data, headers=headers)


def build_push_world(aws: Aws, tmp_path: Path) -> PushWorld:
    # the tenant's webhook receiver listens on 127.0.0.1
    pw = build_proxy_world(aws, tmp_path, world_config={"allow_loopback_urls": True})
    world = pw.world
    world.transport.mount(BROKER_BASE, httpx.WSGITransport(app=world.api))
    pw.fake.pubsub.client = httpx.Client(transport=world.transport, base_url=BROKER_BASE)
    pw.fake.pubsub.create_topic(TOPIC)
    pw.fake.pubsub.create_subscription(
        SUBSCRIPTION, TOPIC, PUSH_URL, audience=AUDIENCE, service_account_email=SERVICE_ACCOUNT
    )
    push_world = PushWorld(pw)
    world.services.publisher.listeners.append(push_world.events.append)
    return push_world
