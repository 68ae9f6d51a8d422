"""authlib glue: the authorization URL (PKCE S256, state, nonce, defaults), and the code exchange
through the one token-endpoint adapter (`ProviderTokenClient`) over an injected httpx client."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oauth_broker.oauth.client import authorization_url, new_code_verifier
from oauth_broker.providers.catalog import ProviderCatalog, ProviderDefinition, TokenEndpointAuthMethod
from oauth_broker.tokens.endpoint import ClientCredentials, ProviderTokenClient, TokenEndpointError

REDIRECT = "https://broker.test/v1/oauth/callback"


@pytest.fixture(scope="module")
def gmail() -> ProviderDefinition:
    return ProviderCatalog.load().get("google-mail")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_given_a_flow_when_the_authorization_url_is_built_then_it_has_pkce_s256_state_nonce_and_defaults(
    gmail,
):
    verifier = new_code_verifier()
    url = authorization_url(
        gmail,
        client_id="cid",
        redirect_uri=REDIRECT,
        scopes=["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"],
        state="state-value-0123456789abcdef",
        code_verifier=verifier,
        nonce="nonce-1",
        prompt="consent",
        login_hint="alice@example.com",
    )
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    q = query(url)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert q == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "scope": "openid email https://www.googleapis.com/auth/gmail.readonly",
        "state": "state-value-0123456789abcdef",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "nonce-1",
        "access_type": "offline",
        "include_granted_scopes": "true",
        "prompt": "consent",
        "login_hint": "alice@example.com",
    }
    assert verifier not in url


def test_given_a_new_verifier_when_made_then_it_is_rfc7636_shaped_and_random():
    a, b = new_code_verifier(), new_code_verifier()
    assert a != b and 43 <= len(a) <= 128
    assert all(ch.isalnum() or ch in "-._~" for ch in a)


def recording(status: int, body: dict) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def exchange(http: httpx.Client, provider: ProviderDefinition, *, code: str = "4/code"):
    return ProviderTokenClient(http).exchange_code(
        provider,
        ClientCredentials("cid", "sec"),
        code=code,
        code_verifier="v" * 50,
        redirect_uri=REDIRECT,
        timeout=5.0,
    )


def test_given_a_code_when_exchanged_then_the_verifier_redirect_uri_and_client_secret_post_are_sent(gmail):
    http, seen = recording(
        200,
        {
            "access_token": "at-1",
            "expires_in": 3599,
            "refresh_token": "rt-1",
            "scope": "openid",
            "token_type": "Bearer",
            "id_token": "x.y.z",
        },
    )
    tokens = exchange(http, gmail)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in, tokens.id_token) == (
        "at-1",
        "rt-1",
        3599,
        "x.y.z",
    )
    assert "at-1" not in repr(tokens) and "rt-1" not in repr(tokens) and "x.y.z" not in repr(tokens)
    (request,) = seen
    assert str(request.url) == "https://oauth2.googleapis.com/token"
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": "4/code",
        "code_verifier": "v" * 50,
        "redirect_uri": REDIRECT,
        "client_id": "cid",
        "client_secret": "sec",
    }
    assert "authorization" not in request.headers


def test_given_a_provider_with_basic_client_auth_when_exchanged_then_the_secret_goes_in_the_header(gmail):
    basic = gmail.model_copy(
        update={
            "auth": gmail.auth.model_copy(
                update={"token_endpoint_auth_method": TokenEndpointAuthMethod.CLIENT_SECRET_BASIC}
            )
        }
    )
    http, seen = recording(200, {"access_token": "at", "token_type": "Bearer"})
    exchange(http, basic)
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert "client_secret" not in seen[0].content.decode()


@pytest.mark.parametrize(
    ("status", "body", "code", "kind"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Bad Request"},
            "invalid_grant",
            "invalid_grant",
        ),
        (401, {"error": "invalid_client"}, "invalid_client", "invalid_client"),
        (400, {"error": "<script>alert(1)</script>"}, "oauth_error", "rejected"),
        (503, {"error": "backend"}, "http_503", "transient"),
        (200, {"token_type": "Bearer"}, "invalid_response", "rejected"),
    ],
)
def test_given_a_refusing_token_endpoint_when_exchanged_then_a_safe_error_code_comes_back(
    gmail, status, body, code, kind
):
    http, _ = recording(status, body)
    with pytest.raises(TokenEndpointError) as err:
        exchange(http, gmail)
    assert (err.value.code, err.value.kind) == (code, kind)
    assert "<script>" not in str(err.value)


def test_given_an_unreachable_token_endpoint_when_exchanged_then_the_error_is_transient(gmail):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    http = httpx.Client(transport=httpx.MockTransport(down))
    with pytest.raises(TokenEndpointError) as err:
        exchange(http, gmail)
    assert err.value.kind == "transient"
