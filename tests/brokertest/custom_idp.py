"""A second identity provider for custom-provider tests: another fake (its own issuer, endpoints and
keys) at https://idp.acme.test, routed in-process next to the fake Google.

A custom provider may not claim the issuer or endpoints of the built-in Google (the fake Google,
in these tests), so custom providers live on this one.
"""

from __future__ import annotations

from typing import Any

import httpx

from brokertest.google import CLIENT_ID, CLIENT_SECRET
from brokertest.world import World
from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig

IDP_BASE = "https://idp.acme.test"
AUTH = "https://www.googleapis.com/auth/"


def mount_idp(world: World, base_url: str = IDP_BASE, **fake_config: Any) -> FakeGoogle:
    """A fake IdP at `base_url` (issuer = base_url), reachable through the world's transport."""
    idp = FakeGoogle(FakeGoogleConfig(base_url=base_url, clients={CLIENT_ID: CLIENT_SECRET}, **fake_config))
    world.transport.mount(base_url, httpx.WSGITransport(app=idp.app))
    return idp


def custom_oidc(key: str = "acme-idp", base_url: str = IDP_BASE, **auth: Any) -> dict[str, Any]:
    """A custom OIDC provider on the IdP: only its issuer (endpoints come from discovery)."""
    return {
        "key": key,
        "display_name": "Acme IdP",
        "auth": {"issuer": base_url, "oidc": True, "default_params": {"access_type": "offline"}, **auth},
        "api": {"base_url": f"{base_url}/"},
        "base_scopes": [{"scope": "openid"}, {"scope": "email", "aliases": [AUTH + "userinfo.email"]}],
        "scopes": [
            {"scope": AUTH + "gmail.readonly", "short_name": "mail.read", "sensitivity": "restricted"}
        ],
        "default_scopes": ["mail.read"],
    }


def custom_oauth2(key: str = "acme-oauth", base_url: str = IDP_BASE, **auth: Any) -> dict[str, Any]:
    """A plain OAuth 2.0 provider on the IdP's endpoints: no issuer, no OIDC."""
    return {
        "key": key,
        "display_name": "Acme OAuth",
        "auth": {
            "authorization_url": f"{base_url}/o/oauth2/v2/auth",
            "token_url": f"{base_url}/token",
            "userinfo_url": f"{base_url}/v1/userinfo",
            "default_params": {"access_type": "offline"},
            **auth,
        },
        "api": {"base_url": f"{base_url}/"},
        "scopes": [{"scope": AUTH + "gmail.readonly", "short_name": "mail.read"}],
        "default_scopes": ["mail.read"],
    }
