"""Google's RISC transmitter, for tests: a signing key, the RISC configuration document and JWKS
served on the world's RoutingTransport (https://risc.test), and `make_set(...)` to sign security
event tokens as Google does (RFC 8417, RS256). Other tests can reuse it.

`risc_world(...)` is a broker with the fake Google in-process (as `build_google_world`) whose
providers file also points `google.risc` at this transmitter.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse

from brokertest.google import CLIENT_ID, CLIENT_SECRET, GOOGLE_BASE
from brokertest.world import Aws, World, build_world
from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig
from oauth_broker_dev.fake_google.local import providers_override

TRANSMITTER = "https://risc.test"
ISSUER = "https://risc.test/"
CONFIGURATION_URL = f"{TRANSMITTER}/.well-known/risc-configuration"
JWKS_URL = f"{TRANSMITTER}/risc/jwks"
KID = "risc-key-1"

OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
EVENT = {
    "tokens-revoked": OAUTH + "tokens-revoked",
    "token-revoked": OAUTH + "token-revoked",
    "account-purged": RISC + "account-purged",
    "account-disabled": RISC + "account-disabled",
    "account-enabled": RISC + "account-enabled",
    "sessions-revoked": RISC + "sessions-revoked",
    "account-credential-change-required": RISC + "account-credential-change-required",
    "verification": RISC + "verification",
}
SET_CONTENT_TYPE = "application/secevent+jwt"


@lru_cache(maxsize=4)
def signing_key(kid: str = KID) -> RSAKey:
    """An RSA key (generated once per test process: 2048-bit generation is slow)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


def iss_sub(sub: str) -> dict[str, Any]:
    return {"subject_type": "iss-sub", "iss": ISSUER, "sub": sub}  # Google's spelling


def oauth_token(alg: str, token: str) -> dict[str, Any]:
    return {
        "subject_type": "oauth_token",
        "token_type": "refresh_token",
        "token_identifier_alg": alg,
        "token": token,
    }


@dataclass
class Transmitter:
    """The transmitter's published keys (`published`: the kids its JWKS lists) and what it served."""

    published: list[str] = field(default_factory=lambda: [KID])
    issuer: str = ISSUER
    jwks_fetches: int = 0
    configuration_fetches: int = 0
    down: bool = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        if str(request.url) == CONFIGURATION_URL:
            self.configuration_fetches += 1
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "jwks_uri": JWKS_URL,
                    "delivery_methods_supported": [
                        "https://schemas.openid.net/secevent/risc/delivery-method/push"
                    ],
                },
            )
        if str(request.url) == JWKS_URL:
            self.jwks_fetches += 1
            return httpx.Response(
                200, json={"keys": [signing_key(k).as_dict(private=False) for k in self.published]}
            )
        return httpx.Response(404)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def make_set(
    event_type: str,
    subject: dict[str, Any] | None = None,
    *,
    aud: str | list[str] = CLIENT_ID,
    iss: str = ISSUER,
    iat: float | None = None,
    jti: str | None = None,
    kid: str = KID,
    key: RSAKey | None = None,
    alg: str = "RS256",
    event: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """A security event token as Google's transmitter signs it. `event_type` is a short name of
    `EVENT` (or a full URI); `event` adds members to the event object (e.g. `reason`); `claims`
    replaces or adds top-level claims; `drop` removes them."""
    body: dict[str, Any] = dict(event or {})
    if subject is not None:
        body["subject"] = subject
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": int(time.time() if iat is None else iat),
        "jti": jti or uuid.uuid4().hex,
        "events": {EVENT.get(event_type, event_type): body},
    }
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    header = {"alg": alg, "kid": kid, "typ": "secevent+jwt"}
    return jwt.encode(header, payload, key or signing_key(kid), algorithms=[alg])


def deliver(world: World, token: str, *, content_type: str = SET_CONTENT_TYPE) -> TestResponse:
    """POSTs the token to the receiver through the local gateway, as Google does (no credentials)."""
    return world.request(
        "POST", "/v1/google/risc", data=token.encode(), headers={"Content-Type": content_type}
    )


def risc_providers_override() -> dict[str, Any]:
    override = providers_override(GOOGLE_BASE)
    override["providers"]["google"]["risc"] = {"configuration_url": CONFIGURATION_URL, "issuer": ISSUER}
    return override


def build_risc_world(aws: Aws, tmp_path: Path, **world_config: Any) -> tuple[World, FakeGoogle, Transmitter]:
    fake = FakeGoogle(FakeGoogleConfig(base_url=GOOGLE_BASE, clients={CLIENT_ID: CLIENT_SECRET}))
    providers = tmp_path / "providers.risc.json"
    providers.write_text(json.dumps(risc_providers_override()))
    world = build_world(aws, providers_file=str(providers), **world_config)
    world.transport.mount(GOOGLE_BASE, httpx.WSGITransport(app=fake.app))
    transmitter = Transmitter()
    world.transport.mount(TRANSMITTER, transmitter.transport())
    return world, fake, transmitter
