"""Helpers for tests that drive the fake Google over HTTP like a browser and an OAuth client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

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
