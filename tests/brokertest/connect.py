"""Helpers that drive the connect flow through the gateway emulation, with the fake Google acting as
the user's browser on the consent page (`fake.complete_consent`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from werkzeug.test import TestResponse

from brokertest.google import CLIENT_ID, CLIENT_SECRET, GOOGLE_BASE
from brokertest.world import BROKER_BASE, World
from oauth_broker_dev.fake_google import FakeGoogle

APP_ORIGIN = "https://app.example.com"
RETURN_TO = f"{APP_ORIGIN}/settings/integrations"


def admin(world: World, tenant: str = "acme") -> str:
    return world.token(tenant, "root", admin=True)


def allow_return_origins(world: World, *origins: str, tenant: str = "acme") -> None:
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=admin(world, tenant),
        json_body={"allowed_return_origins": list(origins or (APP_ORIGIN,))},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)


def create_oauth_client(
    world: World,
    *,
    tenant: str = "acme",
    provider: str = "google-mail",
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    name: str = "Acme Gmail",
) -> dict[str, Any]:
    resp = world.request(
        "POST",
        "/v1/oauth-clients",
        token=admin(world, tenant),
        json_body={
            "name": name,
            "provider": provider,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return dict(resp.json)


def create_session(
    world: World,
    oauth_client_id: str,
    *,
    tenant: str = "acme",
    user: str = "alice",
    provider: str = "google-mail",
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    body = {"provider": provider, "oauth_client_id": oauth_client_id, "return_to": RETURN_TO, **fields}
    if body["return_to"] is None:
        del body["return_to"]
    resp = world.request("POST", "/v1/connect-sessions", token=world.token(tenant, user), json_body=body)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return dict(resp.json)


def path_of(url: str) -> str:
    """The path and query of a broker URL, for `world.request`."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BROKER_BASE, url
    return parts.path + ("?" + parts.query if parts.query else "")


def authorize(world: World, authorize_url: str) -> TestResponse:
    return world.request("GET", path_of(authorize_url))


def provider_redirect(world: World, authorize_url: str) -> str:
    """The URL the broker's authorize endpoint redirects the browser to (the provider's)."""
    resp = authorize(world, authorize_url)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return str(resp.headers["Location"])


def callback(world: World, callback_url: str) -> TestResponse:
    return world.request("GET", path_of(callback_url))


@dataclass
class Flow:
    session: dict[str, Any]
    google_url: str
    callback_url: str
    response: TestResponse
    # the creator's POST /v1/connect-sessions/confirm (None: not confirmed, or nothing to confirm)
    confirmed: TestResponse | None = None

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.callback_url).query))

    @property
    def result(self) -> dict[str, Any]:
        """The callback's result: the popup's posted message, or the redirect's query."""
        return result_of(self.response)

    @property
    def connection_id(self) -> str:
        return str(self.result["connection_id"])


def result_of(response: TestResponse) -> dict[str, Any]:
    """The flow result a callback response delivers (popup message or redirect query parameters)."""
    if response.status_code == 303:
        return dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    posted = posted_message(response.get_data(as_text=True))
    assert posted is not None, "the result page posts no message"
    return posted[0]


def confirmation_of(response: TestResponse) -> str | None:
    value = result_of(response).get("confirmation")
    return str(value) if value else None


def confirm(
    world: World,
    confirmation: str,
    *,
    tenant: str = "acme",
    user: str = "alice",
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """POST /v1/connect-sessions/confirm as `user` of `tenant` (or with `token`)."""
    return world.request(
        "POST",
        "/v1/connect-sessions/confirm",
        token=token or world.token(tenant, user),
        headers=headers,
        json_body={"confirmation": confirmation},
    )


def run_flow(
    world: World,
    fake: FakeGoogle,
    oauth_client_id: str,
    *,
    account: str | None = None,
    granted: list[str] | None = None,
    allow: bool = True,
    tamper: Callable[[str], str] | None = None,
    confirmed: bool = True,
    **session_fields: Any,
) -> Flow:
    """Session -> authorize -> consent at the fake Google -> callback -> (with `confirmed`, when the
    result carries a confirmation) the session's creator confirms it."""
    user = session_fields.pop("user", "alice")
    tenant = session_fields.pop("tenant", "acme")
    session = create_session(world, oauth_client_id, user=user, tenant=tenant, **session_fields)
    google_url = provider_redirect(world, session["authorize_url"])
    assert google_url.startswith(fake.base_url + "/"), google_url  # this fake's (Google's, or an IdP's)
    back = fake.complete_consent(google_url, account=account, scopes=granted, allow=allow)
    if tamper is not None:
        back = tamper(back)
    flow = Flow(session, google_url, back, callback(world, back))
    if confirmed and flow.response.status_code in (200, 303):
        confirmation = confirmation_of(flow.response)
        if confirmation:
            flow.confirmed = confirm(world, confirmation, tenant=tenant, user=user)
            assert flow.confirmed.status_code == 200, flow.confirmed.get_data(as_text=True)
    return flow


def posted_message(page: str) -> tuple[dict[str, Any], str] | None:
    """(message, targetOrigin) of the popup page's postMessage script, or None when it posts nothing."""
    marker = "var m="
    start = page.find(marker)
    if start < 0:
        return None
    decoder = json.JSONDecoder()
    message, end = decoder.raw_decode(page, start + len(marker))
    rest = page[end:]
    assert rest.startswith(",o="), rest[:40]
    origin, _ = decoder.raw_decode(rest, 3)
    return message, origin


def b64_forms(value: str) -> list[str]:
    """A secret's plaintext, base64 and base64url spellings (with and without padding)."""
    raw = value.encode()
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return [value, std, std.rstrip("="), url, url.rstrip("=")]


def table_dump(world: World) -> str:
    items = world.aws.dynamodb.scan(TableName=world.aws.resources.table_name)["Items"]
    return json.dumps(items)


class TokenResponseRewriter(httpx.BaseTransport):
    """Sits in front of the fake Google's /token: lets a test rewrite the token response body (to
    serve a forged ID token, drop the refresh token, narrow the scope, ...)."""

    def __init__(self, inner: httpx.BaseTransport, rewrite: Callable[[dict[str, Any]], dict[str, Any]]):
        self.inner = inner
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != "/token" or response.status_code != 200:
            return response
        response.read()
        body = self.rewrite(json.loads(response.content))
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


def rewrite_token_responses(
    world: World, fake: FakeGoogle, rewrite: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    world.transport.mount(GOOGLE_BASE, TokenResponseRewriter(httpx.WSGITransport(app=fake.app), rewrite))
