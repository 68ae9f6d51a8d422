"""The fake Google as `make dev` runs it: mounted at /fake-google on the broker's own port, with
its Cross-Account Protection stream pointed at that broker's receiver, and a providers override
(in the catalog's own schema) that points Google's endpoints, RISC configuration and issuer at it."""

from __future__ import annotations

from typing import Any

from oauth_broker_dev.fake_google.config import FakeGoogleConfig
from oauth_broker_dev.fake_google.fake import FakeGoogle

MOUNT = "/fake-google"
RISC_RECEIVER_PATH = "/v1/google/risc"


def start_for_local(base_url: str, risc_receiver_url: str | None = None) -> FakeGoogle:
    """A fake that accepts any OAuth client id/secret, so any client registered in the demo works.
    Its RISC stream pushes to `risc_receiver_url`; by default, when the fake is mounted at
    /fake-google on a broker, to that broker's `POST /v1/google/risc`."""
    base = base_url.rstrip("/")
    if risc_receiver_url is None and base.endswith(MOUNT):
        risc_receiver_url = base.removesuffix(MOUNT) + RISC_RECEIVER_PATH
    return FakeGoogle(
        FakeGoogleConfig(base_url=base_url, accept_any_client=True, risc_receiver_url=risc_receiver_url)
    )


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
                },
                # the fake's RISC transmitter; its issuer keeps Google's trailing slash
                "risc": {
                    "configuration_url": f"{base}/.well-known/risc-configuration",
                    "issuer": f"{base}/",
                },
            },
            "google-mail": {"api": {"base_url": f"{base}/", "hosts": [host]}},
            "google-contacts": {"api": {"base_url": f"{base}/people/", "hosts": [host]}},
        },
    }
