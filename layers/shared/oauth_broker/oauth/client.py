"""authlib's OAuth 2.0 client over the broker's own httpx client.

authlib's `OAuth2Client` (`authlib.oauth2.client`) does the protocol work: the authorization URL
with PKCE S256, the authorization-code token request, RFC 7009 revocation, client authentication
(`client_secret_post`, `client_secret_basic`, `none`) and token-response parsing. We give it the
process's `httpx.Client` as its session (so tests and the local runtime inject transports, and
connections are pooled), and an httpx `Auth` adapter for its client authentication.

authlib's ready-made `authlib.integrations.httpx_client.OAuth2Client` is not used: it *is* an httpx
client (it cannot share the injected one) and, with plain httpx installed, warns on import.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from oauth_broker.providers.catalog import ProviderDefinition

TOKEN_TIMEOUT_SECONDS = 10.0
REVOKE_TIMEOUT_SECONDS = 5.0
# RFC 7636: 43-128 characters of [A-Za-z0-9-._~]; 64 random bytes make 86 characters.
_VERIFIER_BYTES = 64
# Token-response error codes we pass on by name (RFC 6749 §5.2 and common extensions); any
# other value becomes "token_error", so a provider cannot put arbitrary text into our pages.
KNOWN_TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "redirect_uri_mismatch",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
    }
)


class TokenEndpointError(Exception):
    """The token endpoint refused the request (`error` is a safe, known code) or failed."""

    def __init__(self, error: str, *, status: int | None = None, transient: bool = False):
        super().__init__(error)
        self.error = error if error in KNOWN_TOKEN_ERRORS else "token_error"
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response. `repr` never shows a token."""

    access_token: str
    token_type: str
    expires_in: int | None
    refresh_token: str | None
    scope: str | None
    id_token: str | None

    def __repr__(self) -> str:
        return (
            f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in!r}, "
            f"refresh_token={'<set>' if self.refresh_token else None}, scope={self.scope!r}, "
            f"id_token={'<set>' if self.id_token else None})"
        )

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> TokenResponse:
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TokenEndpointError("token_error")
        expires_in = body.get("expires_in")
        try:
            lifetime = int(expires_in) if expires_in is not None and expires_in != "" else None
        except (TypeError, ValueError):
            lifetime = None
        refresh = body.get("refresh_token")
        scope = body.get("scope")
        id_token = body.get("id_token")
        token_type = body.get("token_type")
        return cls(
            access_token=access_token,
            token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
            expires_in=lifetime if lifetime is None or lifetime >= 0 else None,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            scope=scope if isinstance(scope, str) else (" ".join(scope) if isinstance(scope, list) else None),
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636 §4.1), 512 bits of randomness."""
    return secrets.token_urlsafe(_VERIFIER_BYTES)


def _client_auth_class() -> type:
    import httpx

    class HttpxClientAuth(httpx.Auth):
        """authlib's `ClientAuth` (client_secret_post / _basic / none) as an httpx auth flow."""

        requires_request_body = True

        def __init__(self, client_id: str, client_secret: str | None, auth_method: Any = None):
            from authlib.oauth2.auth import ClientAuth

            self._auth = ClientAuth(client_id, client_secret, auth_method)

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            url, headers, body = self._auth.prepare(
                request.method, str(request.url), headers, request.content.decode()
            )
            yield httpx.Request(
                request.method, url, headers=headers, content=body.encode(), extensions=request.extensions
            )

    return HttpxClientAuth


def authlib_client(
    session: httpx.Client | None,
    provider: ProviderDefinition,
    *,
    client_id: str,
    client_secret: str | None = None,
    redirect_uri: str | None = None,
) -> Any:
    """An authlib `OAuth2Client` for one provider and OAuth client, over `session`."""
    from authlib.oauth2.client import OAuth2Client

    class BrokerOAuth2Client(OAuth2Client):  # type: ignore[misc]
        client_auth_class = _client_auth_class()
        SESSION_REQUEST_PARAMS = ["timeout"]

    method = str(provider.auth.token_endpoint_auth_method)
    return BrokerOAuth2Client(
        session,
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def authorization_url(
    provider: ProviderDefinition,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str],
    state: str,
    code_verifier: str,
    nonce: str | None = None,
    prompt: str | None = None,
    login_hint: str | None = None,
) -> str:
    """The provider's authorization URL: response_type=code, PKCE S256, state, nonce (OIDC), the
    provider's default parameters (Google: access_type=offline, include_granted_scopes=true)."""
    if provider.auth.authorization_url is None:
        raise ValueError(f"provider {provider.key} has no authorization URL")
    client = authlib_client(None, provider, client_id=client_id, redirect_uri=redirect_uri)
    extra: dict[str, str] = dict(provider.auth.default_params)
    if nonce is not None:
        extra["nonce"] = nonce
    if prompt:
        extra["prompt"] = prompt
    if login_hint:
        extra["login_hint"] = login_hint
    url, _ = client.create_authorization_url(
        provider.auth.authorization_url,
        state=state,
        code_verifier=code_verifier,
        scope=provider.join_scopes(scopes),
        **extra,
    )
    return str(url)


def exchange_code(
    http: httpx.Client,
    provider: ProviderDefinition,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    code_verifier: str,
    redirect_uri: str,
) -> TokenResponse:
    """The authorization-code grant (RFC 6749 §4.1.3) with the PKCE verifier."""
    import httpx

    if provider.auth.token_url is None:
        raise TokenEndpointError("token_error")
    client = authlib_client(
        http, provider, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
    )
    from authlib.oauth2.base import OAuth2Error

    try:
        token = client.fetch_token(
            provider.auth.token_url,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            timeout=TOKEN_TIMEOUT_SECONDS,
        )
    except OAuth2Error as exc:
        raise TokenEndpointError(str(exc.error or "token_error")) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise TokenEndpointError("token_error", status=status, transient=status >= 500) from None
    except (httpx.HTTPError, ValueError) as exc:
        transient = isinstance(exc, httpx.TransportError)
        raise TokenEndpointError("token_error", transient=transient) from None
    return TokenResponse.parse(dict(token))


def revoke_token(
    http: httpx.Client,
    provider: ProviderDefinition,
    *,
    client_id: str,
    client_secret: str,
    token: str,
    token_type_hint: str = "refresh_token",
) -> bool:
    """RFC 7009 revocation; True when the provider accepted it (200). Never raises for HTTP."""
    import httpx

    if provider.auth.revocation_url is None:
        return False
    client = authlib_client(http, provider, client_id=client_id, client_secret=client_secret)
    try:
        resp = client.revoke_token(
            provider.auth.revocation_url,
            token=token,
            token_type_hint=token_type_hint,
            timeout=REVOKE_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError:
        return False
    return bool(resp.status_code == 200)
