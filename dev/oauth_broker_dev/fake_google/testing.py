"""Helpers for tests that drive the fake Google over HTTP like a browser and an OAuth client, and
that forge Pub/Sub push tokens and bodies (Gmail push refusals)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from .pubsub import PUSH_TOKEN_LIFETIME, rfc3339, service_account_id

if TYPE_CHECKING:
    from .fake import FakeGoogle

AUTH_PATH = "/o/oauth2/v2/auth"


def pkce_pair() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    """The query of a URL as a flat dict (first value of each key)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def consent_request_id(html: str) -> str | None:
    match = re.search(r'name="request_id" value="([^"]+)"', html)
    return match.group(1) if match else None


class OAuthFlow:
    """Drives the consent page (GET, then the form POST) and /token through an httpx client whose
    base URL is the fake's base URL (`fake.http_client()` or a client of a served fake)."""

    def __init__(
        self,
        client: httpx.Client,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.verifier, self.challenge = pkce_pair()

    def params(self, scopes: list[str], **extra: str) -> dict[str, str]:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": "state-" + secrets.token_hex(8),
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "nonce": "nonce-" + secrets.token_hex(8),
            "access_type": "offline",
        }
        params.update(extra)
        return params

    def open_consent(self, params: dict[str, str]) -> tuple[httpx.Response, str | None]:
        """GET the consent page: (response, the pending request's id or None)."""
        response = self.client.get(AUTH_PATH, params=params)
        return response, consent_request_id(response.text)

    def submit(
        self,
        request_id: str,
        account: str,
        ticked: list[str],
        action: str = "allow",
    ) -> httpx.Response:
        """POST the consent form as the browser does (disabled checkboxes are not sent)."""
        form: dict[str, Any] = {
            "request_id": request_id,
            "account": account,
            "action": action,
            "scope": ticked,
        }
        return self.client.post(AUTH_PATH, data=form)

    def authorize(
        self,
        scopes: list[str],
        account: str,
        ticked: list[str] | None = None,
        action: str = "allow",
        **extra: str,
    ) -> dict[str, str]:
        """The query of the redirect back to redirect_uri after the user's choice."""
        params = self.params(scopes, **extra)
        page, request_id = self.open_consent(params)
        if page.status_code != 200 or request_id is None:
            raise AssertionError(f"no consent page: {page.status_code} {page.text[:300]}")
        response = self.submit(request_id, account, scopes if ticked is None else ticked, action)
        if response.status_code != 302:
            raise AssertionError(f"consent did not redirect: {response.status_code} {response.text[:300]}")
        return query_of(response.headers["location"])

    def exchange(self, code: str, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        form.update(overrides)
        return self.client.post("/token", data=form)

    def tokens(self, scopes: list[str], account: str, **extra: str) -> dict[str, Any]:
        """Consent with every scope ticked, then exchange the code: the token response."""
        redirect = self.authorize(scopes, account, None, "allow", **extra)
        response = self.exchange(redirect["code"])
        if response.status_code != 200:
            raise AssertionError(f"code exchange failed: {response.status_code} {response.text}")
        return dict(response.json())

    def refresh(self, refresh_token: str, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        form.update(overrides)
        return self.client.post("/token", data=form)


# ---- Gmail push (Pub/Sub) ------------------------------------------------------------------------


def other_key() -> RSAKey:
    """An RS256 key the fake's JWKS does not publish (a forged token's)."""
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


def push_token(
    fake: FakeGoogle,
    audience: str,
    email: str,
    *,
    email_verified: bool = True,
    iss: str | None = None,
    iat: int | None = None,
    exp: int | None = None,
    key: RSAKey | None = None,
    kid: str | None = None,
    omit: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    """A Pub/Sub push OIDC token as the fake signs it (`PubSub.push_token`), with any claim chosen:
    a wrong `audience` or `email`, `email_verified=False`, an `exp` in the past, another `iss`, or
    `key=other_key()` (a signature the JWKS cannot verify; `kid` keeps the fake's current kid by
    default, as a forger would). `omit` drops claims; `extra` adds or replaces claims."""
    issued = int(fake.now()) if iat is None else iat
    sa_id = service_account_id(email)
    claims: dict[str, Any] = {
        "aud": audience,
        "azp": sa_id,
        "email": email,
        "email_verified": email_verified,
        "exp": issued + PUSH_TOKEN_LIFETIME if exp is None else exp,
        "iat": issued,
        "iss": fake.issuer if iss is None else iss,
        "sub": sa_id,
    }
    claims.update(extra)
    for name in omit:
        claims.pop(name, None)
    signing = key or fake.keys.current
    header = {"alg": "RS256", "kid": kid or fake.keys.kid, "typ": "JWT"}
    return jwt.encode(header, claims, signing)


def push_body(
    email_address: str,
    history_id: int,
    subscription: str = "projects/test-project/subscriptions/gmail-push",
    message_id: str | None = None,
    publish_time: float = 0.0,
) -> dict[str, Any]:
    """The JSON body of a Pub/Sub push of Gmail's notification `{emailAddress, historyId}`."""
    message_id = message_id or str(secrets.randbelow(9 * 10**15) + 10**15)
    published = rfc3339(publish_time)
    data = base64.b64encode(json.dumps({"emailAddress": email_address, "historyId": history_id}).encode())
    return {
        "message": {
            "attributes": {},
            "data": data.decode("ascii"),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": subscription,
    }
