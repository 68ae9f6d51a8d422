"""Every Cross-Account Protection event, sent by the fake Google's transmitter (signed with its own
key, named by its RISC configuration) to the broker's receiver through the local gateway: the
connection made by a real connect flow changes as API.md says, within the request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from brokertest.connect import allow_return_origins, create_oauth_client, run_flow
from brokertest.google import build_google_world
from brokertest.world import BROKER_BASE
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.services import configure

# event (and reason) -> the connection's (status, status_reason) once the receiver answered
EXPECTED: dict[tuple[str, str | None], tuple[str, str | None]] = {
    ("tokens-revoked", None): ("revoked", "provider_tokens_revoked"),
    ("account-purged", None): ("revoked", "account_purged"),
    ("token-revoked", None): ("revoked", "provider_token_revoked"),
    ("account-disabled", None): ("needs_reauth", "account_disabled"),
    ("account-disabled", "hijacking"): ("revoked", "account_hijacked"),
    ("sessions-revoked", None): ("active", None),
    ("account-enabled", None): ("active", None),
    ("account-credential-change-required", None): ("active", None),
    ("verification", None): ("active", None),
}


@pytest.fixture
def google(aws: Any, tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    world, fake = build_google_world(aws, tmp_path)
    fake.risc.client = httpx.Client(transport=httpx.WSGITransport(app=world.api), base_url=BROKER_BASE)
    fake.risc.register(f"{BROKER_BASE}/v1/google/risc")
    try:
        yield world, fake
    finally:
        fake.risc.client.close()
        configure(None)


@pytest.mark.parametrize(("event_type", "reason"), sorted(EXPECTED, key=str))
def test_given_the_fake_google_sends_an_event_when_received_then_the_connection_changes_as_api_md_says(
    google: tuple[Any, Any], event_type: str, reason: str | None
) -> None:
    world, fake = google
    allow_return_origins(world)
    client = create_oauth_client(world)
    flow = run_flow(world, fake, client["id"], scopes=["gmail.readonly"])
    conn = world.services.connections.get(flow.connection_id)
    assert conn is not None and conn.status == "active"
    email = flow.confirmed.json["account"]["email"]
    if event_type == "token-revoked":
        refresh_token = world.services.envelope.decrypt(
            conn.enc_refresh_token, EncryptionContext(conn.tenant, conn.id, "refresh_token")
        ).decode()
        delivery = fake.risc.send(event_type, token=refresh_token)
    elif event_type == "verification":
        delivery = fake.risc.send(event_type, state="checking-the-stream")
    else:
        delivery = fake.risc.send(event_type, sub=email, reason=reason)

    assert delivery.status == 202, (delivery.status, delivery.body)
    after = world.services.connections.get(conn.id)
    assert after is not None
    assert (after.status.value, after.status_reason) == EXPECTED[(event_type, reason)]
    if reason == "hijacking":
        assert after.enc_refresh_token is None and after.enc_access_token is None
