"""A tenant seeded over HTTP on the running local broker, so the fuzzer's path parameters can name
things that exist: an OAuth client (the fake Google), the allowed return origin, a webhook secret,
an API key and a connection confirmed through the real connect flow (the fake Google's
non-browser consent control). Every secret it seeds is kept, for the no-secret-leaks check."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from e2e.dev_cli import consent_connect
from oauth_broker_dev import devidp

PRINCIPALS = ("admin", "user", "api_key")
GMAIL_SCOPES = ["gmail.readonly", "gmail.send", "gmail.modify"]


@dataclass
class FuzzWorld:
    base_url: str
    tenant: str
    admin_jwt: str
    user_jwt: str
    api_key: str
    api_key_id: str
    oauth_client_id: str
    connection_id: str
    message_ids: list[str]
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return f"user@{self.tenant}"

    def headers(self, principal: str, *, on_behalf: bool = False) -> dict[str, str]:
        """The `Authorization` (and for an API key acting for the user, `X-On-Behalf-Of`) of one
        of the three callers: the tenant's admin (JWT), its plain user (JWT), its API key."""
        if principal == "admin":
            return {"Authorization": f"Bearer {self.admin_jwt}"}
        if principal == "user":
            return {"Authorization": f"Bearer {self.user_jwt}"}
        if principal == "api_key":
            headers = {"Authorization": f"Bearer {self.api_key}"}
            if on_behalf:
                headers["X-On-Behalf-Of"] = self.user
            return headers
        raise ValueError(principal)


def _ok(resp: httpx.Response, *statuses: int) -> Any:
    assert resp.status_code in (statuses or (200,)), f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def seed_world(base_url: str, prefix: str) -> FuzzWorld:
    tenant = f"{prefix}-{secrets.token_hex(4)}"
    admin_jwt = devidp.mint(tenant, f"admin@{tenant}", admin=True)
    user_jwt = devidp.mint(tenant, f"user@{tenant}")
    admin = {"Authorization": f"Bearer {admin_jwt}"}
    user = {"Authorization": f"Bearer {user_jwt}"}
    client_secret = f"fuzz-client-secret-{secrets.token_urlsafe(24)}"
    webhook_secret = f"fuzz-webhook-secret-{secrets.token_urlsafe(24)}"
    with httpx.Client(base_url=base_url, timeout=60) as http:
        _ok(
            http.patch(
                "/v1/settings",
                headers=admin,
                # tokens exposed: `GET .../token` answers 200, the one route a token may leave by
                json={
                    "allowed_return_origins": [base_url],
                    "webhook_secret": webhook_secret,
                    "expose_access_tokens": True,
                },
            )
        )
        client = _ok(
            http.post(
                "/v1/oauth-clients",
                headers=admin,
                json={
                    "name": f"{prefix} Google app",
                    # a client of its own per tenant: revoking one tenant's grant leaves the other's
                    "client_id": f"{tenant}.apps.googleusercontent.com",
                    "client_secret": client_secret,
                    "provider": "google-mail",
                },
            ),
            201,
        )
        key = _ok(http.post("/v1/api-keys", headers=admin, json={"name": f"{prefix} key"}), 201)
        connection_id = consent_connect(http, user, client["id"], GMAIL_SCOPES)
        # A forced refresh and a profile call: the fake Google then has seen the refresh token and
        # the current access token, which become seeded secrets too.
        _ok(http.post(f"/v1/connections/{connection_id}/refresh", headers=user))
        _ok(http.post(f"/v1/connections/{connection_id}/test", headers=user))
        listed = _ok(http.get(f"/v1/connections/{connection_id}/gmail/messages", headers=user))
        message_ids = [m["id"] for m in listed["data"]]
        tokens = _tokens_seen_by_google(http, client_id=f"{tenant}.apps.googleusercontent.com")
    return FuzzWorld(
        base_url=base_url,
        tenant=tenant,
        admin_jwt=admin_jwt,
        user_jwt=user_jwt,
        api_key=key["key"],
        api_key_id=key["id"],
        oauth_client_id=client["id"],
        connection_id=connection_id,
        message_ids=message_ids,
        secrets={
            "client_secret": client_secret,
            "webhook_secret": webhook_secret,
            "api_key": key["key"],
            **tokens,
        },
    )


def _tokens_seen_by_google(http: httpx.Client, *, client_id: str) -> dict[str, str]:
    """The refresh token (from the broker's refresh request) and the access token (from its profile
    call) of the tenant's grant, as the fake Google recorded them."""
    requests = _ok(http.get("/fake-google/_control/requests"))["requests"]
    tokens: dict[str, str] = {}
    for recorded in requests:
        form = parse_qs(recorded["body"]) if recorded["method"] == "POST" else {}
        if form.get("grant_type") == ["refresh_token"] and client_id in recorded["body"] + str(
            recorded["headers"]
        ):
            tokens["refresh_token"] = form["refresh_token"][0]
    for recorded in reversed(requests):
        auth = {k.lower(): v for k, v in recorded["headers"].items()}.get("authorization", "")
        if auth.startswith("Bearer ") and recorded["endpoint"] != "token":
            tokens["access_token"] = auth.removeprefix("Bearer ")
            break
    assert "refresh_token" in tokens and "access_token" in tokens, "the fake Google saw no tokens"
    return tokens
