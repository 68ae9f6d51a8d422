"""The fake Google as `make dev` runs it: mounted at /fake-google on the broker's own port, with
its Cross-Account Protection stream pointed at that broker's receiver, a Pub/Sub topic for Gmail
push whose push subscription posts to that broker's `POST /v1/google/gmail-push`, and a providers
override (in the catalog's own schema) that points Google's endpoints, RISC configuration, issuer
and Gmail push token verification at it."""

from __future__ import annotations

from typing import Any

from oauth_broker_dev.fake_google.config import FakeGoogleConfig
from oauth_broker_dev.fake_google.fake import FakeGoogle

MOUNT = "/fake-google"
RISC_RECEIVER_PATH = "/v1/google/risc"
GMAIL_PUSH_PATH = "/v1/google/gmail-push"
GMAIL_TOPIC = "projects/oauth-broker-dev/topics/gmail"
GMAIL_SUBSCRIPTION = "projects/oauth-broker-dev/subscriptions/broker"
GMAIL_PUSH_SERVICE_ACCOUNT = "gmail-push@oauth-broker-dev.iam.gserviceaccount.com"


def start_for_local(
    base_url: str, risc_receiver_url: str | None = None, gmail_push_url: str | None = None
) -> FakeGoogle:
    """A fake that accepts any OAuth client id/secret, so any client registered in the demo works.
    Its RISC stream pushes to `risc_receiver_url`, and its Pub/Sub subscription `GMAIL_SUBSCRIPTION`
    (on `GMAIL_TOPIC`, which Gmail may publish on) to `gmail_push_url`, with that URL as audience
    and `GMAIL_PUSH_SERVICE_ACCOUNT` as service account; by default, when the fake is mounted at
    /fake-google on a broker, to that broker's `POST /v1/google/risc` and `/v1/google/gmail-push`.
    `fake.close()` stops its Pub/Sub delivery thread."""
    base = base_url.rstrip("/")
    broker = base.removesuffix(MOUNT) if base.endswith(MOUNT) else None
    if risc_receiver_url is None and broker is not None:
        risc_receiver_url = broker + RISC_RECEIVER_PATH
    if gmail_push_url is None and broker is not None:
        gmail_push_url = broker + GMAIL_PUSH_PATH
    fake = FakeGoogle(
        FakeGoogleConfig(base_url=base_url, accept_any_client=True, risc_receiver_url=risc_receiver_url)
    )
    fake.pubsub.create_topic(GMAIL_TOPIC)
    if gmail_push_url is not None:
        fake.pubsub.create_subscription(
            GMAIL_SUBSCRIPTION,
            GMAIL_TOPIC,
            gmail_push_url,
            audience=gmail_push_url,
            service_account_email=GMAIL_PUSH_SERVICE_ACCOUNT,
        )
    return fake


def gmail_push_settings(fake: FakeGoogle) -> dict[str, str] | None:
    """The tenant setting `gmail_push` that matches the fake's subscription (None without one)."""
    subscription = fake.pubsub.subscriptions.get(GMAIL_SUBSCRIPTION)
    if subscription is None:
        return None
    return {
        "topic": subscription.topic,
        "push_audience": subscription.audience,
        "push_service_account": subscription.service_account_email,
    }


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
                # Pub/Sub push tokens: signed with the fake's ID-token key, its issuer
                "gmail_push": {"jwks_url": f"{base}/jwks", "issuers": [base]},
            },
            "google-mail": {"api": {"base_url": f"{base}/", "hosts": [host]}},
            "google-contacts": {"api": {"base_url": f"{base}/people/", "hosts": [host]}},
        },
    }
