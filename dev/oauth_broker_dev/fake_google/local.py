"""The fake Google as `make dev` runs it: mounted at /fake-google on the broker's own port, and a
providers override (in the catalog's own schema) that points Google's endpoints at it."""

from __future__ import annotations

from typing import Any

from oauth_broker_dev.fake_google.config import FakeGoogleConfig
from oauth_broker_dev.fake_google.fake import FakeGoogle


def start_for_local(base_url: str) -> FakeGoogle:
    """A fake that accepts any OAuth client id/secret, so any client registered in the demo works."""
    return FakeGoogle(FakeGoogleConfig(base_url=base_url, accept_any_client=True))


def providers_override(base_url: str) -> dict[str, Any]:
    """Catalog overrides for `google`, `google-mail` and `google-contacts` pointing at `base_url`."""
    base = base_url.rstrip("/")
    host = base.split("://", 1)[1].split("/", 1)[0]
    return {
        "version": 1,
        "providers": {
            "google": {
                "auth": {
                    "authorization_url": f"{base}/o/oauth2/v2/auth",
                    "token_url": f"{base}/token",
                    "revocation_url": f"{base}/revoke",
                    "userinfo_url": f"{base}/v1/userinfo",
                    "issuer": base,
                    "jwks_url": f"{base}/jwks",
                }
            },
            "google-mail": {"api": {"base_url": f"{base}/", "hosts": [host]}},
            "google-contacts": {"api": {"base_url": f"{base}/people/", "hosts": [host]}},
        },
    }
