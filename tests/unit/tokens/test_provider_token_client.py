"""ProviderTokenClient: what each token or revocation endpoint answer means to the refresher.
The provider is an httpx.MockTransport: no socket, no fake server."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest

from oauth_broker.providers.catalog import ProviderDefinition
from oauth_broker.tokens.endpoint import ClientCredentials, ProviderTokenClient, TokenEndpointError

CREDENTIALS = ClientCredentials("client-1", "s3cr3t-value")


def provider(auth_method: str = "client_secret_post", revocation: bool = True) -> ProviderDefinition:
    auth = {
        "authorization_url": "https://idp.test/authorize",
        "token_url": "https://idp.test/token",
        "token_endpoint_auth_method": auth_method,
    }
    if revocation:
        auth["revocation_url"] = "https://idp.test/revoke"
    return ProviderDefinition.validate_definition({"key": "idp", "display_name": "IdP", "auth": auth})


def client(handler) -> tuple[ProviderTokenClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    return ProviderTokenClient(httpx.Client(transport=httpx.MockTransport(record))), seen


def answer(status: int, body: object = None, **headers: str):
    content = json.dumps(body).encode() if body is not None else b""
    return lambda request: httpx.Response(
        status, content=content, headers={"Content-Type": "application/json", **headers}
    )


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


def refresh(tc: ProviderTokenClient, p: ProviderDefinition | None = None):
    return tc.refresh(p or provider(), CREDENTIALS, "rt-old", timeout=2)


# -- successful refreshes ----------------------------------------------------------------------------
def test_given_a_token_response_when_refreshing_then_the_new_tokens_and_their_lifetime_are_returned():
    tc, seen = client(
        answer(200, {"access_token": "at-new", "expires_in": 3599, "token_type": "Bearer", "scope": "a b"})
    )
    result = refresh(tc)
    assert (result.access_token, result.expires_in, result.scope, result.refresh_token) == (
        "at-new",
        3599,
        "a b",
        None,
    )
    body = form(seen[0])
    assert body["grant_type"] == ["refresh_token"] and body["refresh_token"] == ["rt-old"]


def test_given_a_rotating_provider_when_refreshing_then_the_new_refresh_token_is_returned():
    tc, _ = client(answer(200, {"access_token": "at", "refresh_token": "rt-new", "token_type": "bearer"}))
    result = refresh(tc)
    assert result.refresh_token == "rt-new" and result.expires_in is None


def test_given_client_secret_post_when_refreshing_then_the_credentials_go_in_the_body():
    tc, seen = client(answer(200, {"access_token": "at", "token_type": "Bearer"}))
    refresh(tc, provider("client_secret_post"))
    body = form(seen[0])
    assert body["client_id"] == ["client-1"] and body["client_secret"] == ["s3cr3t-value"]
    assert "authorization" not in seen[0].headers


def test_given_client_secret_basic_when_refreshing_then_the_credentials_go_in_the_authorization_header():
    tc, seen = client(answer(200, {"access_token": "at", "token_type": "Bearer"}))
    refresh(tc, provider("client_secret_basic"))
    scheme, value = seen[0].headers["authorization"].split(" ")
    assert scheme == "Basic" and base64.b64decode(value) == b"client-1:s3cr3t-value"
    assert "client_secret" not in form(seen[0])


def test_given_a_public_client_when_refreshing_then_only_the_client_id_is_sent():
    tc, seen = client(answer(200, {"access_token": "at", "token_type": "Bearer"}))
    refresh(tc, provider("none"))
    body = form(seen[0])
    assert body["client_id"] == ["client-1"] and "client_secret" not in body


# -- failures ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("handler", "kind", "code"),
    [
        (
            answer(
                400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            ),
            "invalid_grant",
            "invalid_grant",
        ),
        # a description authlib's own error class would refuse (quotes, non-ASCII): still invalid_grant
        (
            answer(400, {"error": "invalid_grant", "error_description": 'Le jeton "a expiré"'}),
            "invalid_grant",
            "invalid_grant",
        ),
        (answer(401, {"error": "invalid_client"}), "invalid_client", "invalid_client"),
        (answer(400, {"error": "unauthorized_client"}), "invalid_client", "unauthorized_client"),
        (answer(503, {"error": "internal_failure"}), "transient", "http_503"),
        (answer(500), "transient", "http_500"),
        (
            answer(429, {"error": "rate_limit_exceeded"}, **{"Retry-After": "7"}),
            "transient",
            "rate_limit_exceeded",
        ),
        (answer(400, {"error": "temporarily_unavailable"}), "transient", "temporarily_unavailable"),
        (answer(400, {"error": "invalid_scope"}), "rejected", "invalid_scope"),
        (answer(400, {"error": "<script>"}), "rejected", "oauth_error"),
        (answer(200, {"token_type": "Bearer"}), "rejected", "invalid_response"),
        (answer(200, {"access_token": "at", "token_type": "mac"}), "rejected", "unsupported_token_type"),
        (lambda r: httpx.Response(502, content=b"<html>bad gateway</html>"), "transient", "http_502"),
        (lambda r: httpx.Response(200, content=b"not json"), "rejected", "invalid_response"),
    ],
)
def test_given_a_failing_token_endpoint_when_refreshing_then_the_error_says_what_to_do(handler, kind, code):
    tc, _ = client(handler)
    with pytest.raises(TokenEndpointError) as caught:
        refresh(tc)
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert "s3cr3t" not in str(caught.value) and "rt-old" not in str(caught.value)


def test_given_a_429_with_retry_after_when_refreshing_then_the_wait_is_reported():
    tc, _ = client(answer(429, {"error": "rate_limit_exceeded"}, **{"Retry-After": "7"}))
    with pytest.raises(TokenEndpointError) as caught:
        refresh(tc)
    assert caught.value.retry_after == 7.0 and caught.value.status == 429


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (lambda r: httpx.ReadTimeout("slow", request=r), "timeout"),
        (lambda r: httpx.ConnectTimeout("slow", request=r), "timeout"),
        (lambda r: httpx.ConnectError("refused", request=r), "network_error"),
        (lambda r: httpx.RemoteProtocolError("eof", request=r), "network_error"),
    ],
)
def test_given_a_network_failure_when_refreshing_then_it_is_transient(error, code):
    def fail(request):
        raise error(request)

    tc, _ = client(fail)
    with pytest.raises(TokenEndpointError) as caught:
        refresh(tc)
    assert (caught.value.kind, caught.value.code) == ("transient", code)


# -- revocation -------------------------------------------------------------------------------------
def test_given_a_revocation_when_the_provider_accepts_then_it_is_revoked_with_the_type_hint():
    tc, seen = client(answer(200, {}))
    outcome = tc.revoke(provider(), CREDENTIALS, "rt-1", token_type_hint="refresh_token", timeout=2)
    body = form(seen[0])
    assert outcome == "revoked" and str(seen[0].url) == "https://idp.test/revoke"
    assert body["token"] == ["rt-1"] and body["token_type_hint"] == ["refresh_token"]


def test_given_a_token_the_provider_no_longer_knows_when_revoking_then_it_is_already_invalid():
    tc, _ = client(answer(400, {"error": "invalid_token", "error_description": "Token expired or revoked"}))
    assert (
        tc.revoke(provider(), CREDENTIALS, "rt", token_type_hint="refresh_token", timeout=2)
        == "already_invalid"
    )


@pytest.mark.parametrize(
    ("handler", "kind", "code"),
    [
        (answer(503, {"error": "internal_failure"}), "transient", "http_503"),
        (answer(429, {"error": "rate_limit_exceeded"}), "transient", "rate_limit_exceeded"),
        (answer(401, {"error": "invalid_client"}), "invalid_client", "invalid_client"),
        (answer(400, {"error": "unsupported_token_type"}), "rejected", "unsupported_token_type"),
    ],
)
def test_given_a_failing_revocation_endpoint_when_revoking_then_the_error_says_what_to_do(
    handler, kind, code
):
    tc, _ = client(handler)
    with pytest.raises(TokenEndpointError) as caught:
        tc.revoke(provider(), CREDENTIALS, "rt", token_type_hint="refresh_token", timeout=2)
    assert (caught.value.kind, caught.value.code) == (kind, code)


def test_given_a_provider_without_a_revocation_endpoint_when_revoking_then_it_is_refused_without_a_request():
    tc, seen = client(answer(200, {}))
    with pytest.raises(TokenEndpointError) as caught:
        tc.revoke(provider(revocation=False), CREDENTIALS, "rt", token_type_hint="refresh_token", timeout=2)
    assert caught.value.code == "provider_has_no_revocation_endpoint" and seen == []
