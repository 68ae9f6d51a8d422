"""The fake Google in-process for integration tests: served through an httpx WSGI transport at
https://fake-google.test, with a providers override pointing google-mail/-contacts at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from brokertest.world import Aws, World, build_world
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.crypto.token_identifiers import token_digests
from oauth_broker.ids import hint, new_id
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus, OAuthClientRecord
from oauth_broker.timeutil import now_epoch, rfc3339
from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig
from oauth_broker_dev.fake_google.local import providers_override

GOOGLE_BASE = "https://fake-google.test"
CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-client-secret-0001"


def build_google_world(
    aws: Aws, tmp_path: Path, *, world_config: dict[str, Any] | None = None, **fake_config: Any
) -> tuple[World, FakeGoogle]:
    fake = FakeGoogle(
        FakeGoogleConfig(
            base_url=GOOGLE_BASE,
            clients={CLIENT_ID: CLIENT_SECRET},
            **fake_config,
        )
    )
    providers = tmp_path / "providers.fake-google.json"
    providers.write_text(json.dumps(providers_override(GOOGLE_BASE)))
    world = build_world(aws, providers_file=str(providers), **(world_config or {}))
    world.transport.mount(GOOGLE_BASE, httpx.WSGITransport(app=fake.app))
    return world, fake


def seed_oauth_client(
    world: World, *, tenant: str = "acme", provider: str = "google-mail"
) -> OAuthClientRecord:
    """An OAuth client as `POST /v1/oauth-clients` stores it (secret encrypted)."""
    services = world.services
    client_id = new_id("ocl")
    ctx = EncryptionContext(tenant, client_id, "client_secret")
    now = rfc3339()
    rec = OAuthClientRecord(
        id=client_id,
        tenant=tenant,
        name="Test app",
        provider=provider,
        client_id=CLIENT_ID,
        enc_client_secret=services.envelope.encrypt(CLIENT_SECRET.encode(), ctx),
        secret_hint=hint(CLIENT_SECRET),
        created_at=now,
        updated_at=now,
    )
    return services.oauth_clients.create(rec)


def seed_connection(
    world: World,
    fake: FakeGoogle,
    *,
    tenant: str = "acme",
    owner: str = "alice",
    email: str = "alice@example.com",
    provider: str = "google-mail",
    scopes: list[str] | None = None,
    oauth_client: OAuthClientRecord | None = None,
    expires_in: int | None = None,
    status: ConnectionStatus = ConnectionStatus.ACTIVE,
    **fields: Any,
) -> tuple[ConnectionRecord, dict[str, Any]]:
    """A connection as a completed consent leaves it: real tokens issued by the fake, encrypted.

    Returns the stored record and the fake's token response (for assertions on tokens).
    """
    services = world.services
    catalog = services.catalog
    requested = catalog.normalize_scopes(provider, scopes or ["gmail.readonly"])
    client = oauth_client or seed_oauth_client(world, tenant=tenant, provider=provider)
    tokens = fake.issue_tokens(email, requested, client_id=CLIENT_ID)
    con_id = new_id("con")
    now = rfc3339()
    lifetime = int(tokens.get("expires_in", 3600)) if expires_in is None else expires_in
    # indexed by its refresh token's identifiers, as the callback does
    if catalog.get(provider).risc is not None:
        fields.setdefault("rt_digests", list(token_digests(tokens["refresh_token"])))
    rec = ConnectionRecord(
        id=con_id,
        tenant=tenant,
        owner=owner,
        name=f"{email} ({provider})",
        provider=provider,
        oauth_client_id=client.id,
        provider_client_id=fields.pop("provider_client_id", client.client_id),
        account_email=email,
        account_sub=f"sub-{email}",
        scopes_requested=requested,
        scopes_granted=catalog.compare_scopes(provider, requested, tokens.get("scope")).granted,
        status=status,
        created_at=now,
        updated_at=now,
        last_refreshed_at=now,
        expires_at=now_epoch() + lifetime,
        enc_access_token=services.envelope.encrypt(
            tokens["access_token"].encode(), EncryptionContext(tenant, con_id, "access_token")
        ),
        enc_refresh_token=services.envelope.encrypt(
            tokens["refresh_token"].encode(), EncryptionContext(tenant, con_id, "refresh_token")
        ),
        token_type="Bearer",
        **fields,
    )
    return services.connections.create(rec), tokens
