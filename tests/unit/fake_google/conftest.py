"""Fixtures for the fake Google's own tests: a fake with one registered client, an in-process
httpx client, and an `OAuthFlow` that drives the consent page like a browser would."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

try:
    import oauth_broker_dev.fake_google  # noqa: F401
except ModuleNotFoundError:  # the project is not installed: import it from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "dev"))

from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig
from oauth_broker_dev.fake_google.scopes import GMAIL_READONLY
from oauth_broker_dev.fake_google.signing import SigningKeys
from oauth_broker_dev.fake_google.testing import OAuthFlow

CLIENT_ID = "test-client.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"
REDIRECT_URI = "https://broker.test/v1/oauth/callback"


@pytest.fixture(scope="session")
def signing_keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture
def config() -> FakeGoogleConfig:
    return FakeGoogleConfig(clients={CLIENT_ID: CLIENT_SECRET})


@pytest.fixture
def fake(config: FakeGoogleConfig, signing_keys: SigningKeys) -> FakeGoogle:
    return FakeGoogle(config, signing_keys=signing_keys)


@pytest.fixture
def client(fake: FakeGoogle) -> Iterator[httpx.Client]:
    with fake.http_client() as http:
        yield http


@pytest.fixture
def flow(client: httpx.Client) -> OAuthFlow:
    return OAuthFlow(client, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)


@pytest.fixture
def bearer(fake: FakeGoogle) -> Callable[..., dict[str, str]]:
    """bearer(email, scopes) -> the Authorization header of a freshly minted access token."""

    def make(email: str = "alice@example.com", scopes: tuple[str, ...] = (GMAIL_READONLY,)) -> dict[str, str]:
        tokens = fake.issue_tokens(email, list(scopes), CLIENT_ID)
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    return make
