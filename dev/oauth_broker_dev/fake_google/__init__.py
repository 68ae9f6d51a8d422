"""A fake Google (OAuth 2.0 / OIDC, Gmail and People subsets), faithful at its HTTP boundary,
for development and tests. Never deployed.

    fake = FakeGoogle(FakeGoogleConfig(clients={"cid": "secret"}))
    client = fake.http_client()            # in-process (httpx.WSGITransport)
    with fake.serve() as server: ...       # on 127.0.0.1, server.base_url
    create_app(config)                     # a Flask app to mount (DispatcherMiddleware)
"""

from .app import create_app
from .config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FakeAccount,
    FakeGoogleConfig,
    default_accounts,
)
from .controls import FailRule, RecordedRequest, Revocation
from .fake import FakeGoogle
from .mailbox import StoredMessage
from .server import FakeGoogleServer

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FailRule",
    "FakeAccount",
    "FakeGoogle",
    "FakeGoogleConfig",
    "FakeGoogleServer",
    "RecordedRequest",
    "Revocation",
    "StoredMessage",
    "create_app",
    "default_accounts",
]
