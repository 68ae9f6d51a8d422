"""The one adapter for a provider's token endpoint (the authorization-code exchange with PKCE,
RFC 6749 §4.1.3; refresh, §6) and revocation endpoint (RFC 7009), through authlib with the
process's injected httpx client. The callback, the refresher and revocation all go through it.

Every failure becomes a `TokenEndpointError` whose `kind` says what the caller should do:

- `invalid_grant`: the refresh token is dead (revoked, expired, Google's 7-day testing mode):
  the connection needs re-authorization;
- `invalid_client`: the OAuth client's id or secret is rejected (rotated or deleted at the
  provider): worth one retry with freshly loaded client credentials, then a failure;
- `transient`: 5xx, 429, timeouts, network errors: retry with backoff;
- `rejected`: any other refusal or a malformed answer: retrying will not help.

Nothing here logs, and no message carries a token, a secret or the provider's free-text
`error_description` (only the standard `error` code and the HTTP status).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import httpx

    from oauth_broker.providers.catalog import ProviderDefinition

ErrorKind = Literal["invalid_grant", "invalid_client", "transient", "rejected"]

_TRANSIENT_OAUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error", "rate_limit_exceeded"})
_CLIENT_OAUTH_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
_MAX_RETRY_AFTER = 30.0


class TokenEndpointError(Exception):
    """A refresh or revocation the provider did not accept. `code` is safe to log and report."""

    def __init__(
        self, kind: ErrorKind, code: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(f"{kind}: {code}" + (f" (HTTP {status})" if status else ""))
        self.kind: ErrorKind = kind
        self.code = code
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class TokenResponse:
    """A successful refresh. `refresh_token` is None when the provider did not send one (keep the
    stored one: RFC 6749 §6 makes a new refresh token optional)."""

    access_token: str = field(repr=False)
    expires_in: int | None
    refresh_token: str | None = field(repr=False)
    scope: str | None
    token_type: str
    id_token: str | None = field(default=None, repr=False)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
    return max(0.0, min(seconds, _MAX_RETRY_AFTER))


@cache
def _authlib_classes() -> tuple[type[Any], type[Exception]]:
    """(authlib's OAuth 2.0 protocol client bound to an injected httpx.Client, the error class of an
    `{"error": ...}` answer). Built on first use: authlib is imported only on the refresh path.

    authlib's `integrations.httpx_client` would do, but it builds its own httpx.Client (a second
    connection pool) and imports a deprecated httpx shim (a warning on every cold start); what
    we need from it is the few lines of request signing in `HttpxClientAuth`.
    """
    import httpx
    from authlib.common.errors import AuthlibBaseError
    from authlib.oauth2.auth import ClientAuth
    from authlib.oauth2.client import OAuth2Client

    class HttpxClientAuth(httpx.Auth, ClientAuth):  # type: ignore[misc]
        """Client authentication (client_secret_post, client_secret_basic, none) as an httpx Auth."""

        requires_request_body = True

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            url, headers, body = self.prepare(
                request.method, str(request.url), request.headers, request.content
            )
            body = body.encode() if isinstance(body, str) else body
            headers["Content-Length"] = str(len(body))
            yield httpx.Request(
                request.method, url, headers=headers, content=body, extensions=request.extensions
            )

    class ProviderOAuthError(AuthlibBaseError):  # type: ignore[misc]
        """An `{"error": ...}` answer. Unlike authlib's OAuth2Error it does not reject a
        provider's `error_description` for its characters (we never use that text anyway)."""

    class InjectedSessionClient(OAuth2Client):  # type: ignore[misc]
        client_auth_class = HttpxClientAuth
        oauth_error_class = ProviderOAuthError
        SESSION_REQUEST_PARAMS = ["timeout"]  # passed to httpx, not put in the form body

    return InjectedSessionClient, ProviderOAuthError


def authlib_client_class() -> type[Any]:
    """authlib's OAuth 2.0 client class, bound to an injected httpx.Client session."""
    return _authlib_classes()[0]


def _kind_for_status(status: int) -> ErrorKind:
    return "transient" if status == 429 or status >= 500 or status == 408 else "rejected"


class ProviderTokenClient:
    """Refreshes and revokes tokens at a provider. `http` is the process's pooled httpx client."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def _oauth_client(self, provider: ProviderDefinition, credentials: ClientCredentials) -> Any:
        method = provider.auth.token_endpoint_auth_method.value
        return authlib_client_class()(
            self.http,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            token_endpoint_auth_method=method,
            revocation_endpoint_auth_method=method,
        )

    # -- authorization code (RFC 6749 §4.1.3, PKCE RFC 7636) -------------------------------------------
    def exchange_code(
        self,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        *,
        code: str,
        code_verifier: str,
        redirect_uri: str,
        timeout: float,
    ) -> TokenResponse:
        """The authorization-code grant with the PKCE verifier. Errors as for `refresh`."""
        return self._token_request(
            provider,
            credentials,
            "access_token_response",
            lambda client, url: client.fetch_token(
                url,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                timeout=timeout,
            ),
            sent_refresh_token=None,
        )

    # -- refresh -----------------------------------------------------------------------------------
    def refresh(
        self,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        refresh_token: str,
        *,
        timeout: float,
    ) -> TokenResponse:
        return self._token_request(
            provider,
            credentials,
            "refresh_token_response",
            lambda client, url: client.refresh_token(url, refresh_token=refresh_token, timeout=timeout),
            sent_refresh_token=refresh_token,
        )

    def _token_request(
        self,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        hook: str,
        send: Callable[[Any, str], Any],
        *,
        sent_refresh_token: str | None,
    ) -> TokenResponse:
        """One token-endpoint request (`send(authlib client, token URL)`), every failure a
        `TokenEndpointError`; `hook` is authlib's compliance hook that sees the raw response."""
        import httpx

        url = provider.auth.token_url
        if not url:
            raise TokenEndpointError("rejected", "provider_has_no_token_endpoint")
        client = self._oauth_client(provider, credentials)
        _, oauth_error = _authlib_classes()
        seen: dict[str, Any] = {}

        def remember(resp: httpx.Response) -> httpx.Response:
            seen["status"] = resp.status_code
            seen["retry_after"] = _retry_after(resp.headers)
            return resp

        client.register_compliance_hook(hook, remember)
        try:
            token = send(client, url)
        except httpx.TimeoutException:
            raise TokenEndpointError("transient", "timeout") from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise TokenEndpointError(
                _kind_for_status(status),
                f"http_{status}",
                status=status,
                retry_after=_retry_after(exc.response.headers),
            ) from None
        except httpx.HTTPError:
            raise TokenEndpointError("transient", "network_error") from None
        except oauth_error as exc:
            raise self._oauth_error(str(getattr(exc, "error", None) or "oauth_error"), seen) from None
        except ValueError:  # a body that is not a JSON object
            status = int(seen.get("status") or 0)
            raise TokenEndpointError(
                _kind_for_status(status) if status else "rejected",
                "invalid_response",
                status=status or None,
                retry_after=seen.get("retry_after"),
            ) from None
        return self._token_response(token, seen, sent_refresh_token)

    @staticmethod
    def _oauth_error(code: str, seen: dict[str, Any]) -> TokenEndpointError:
        status = seen.get("status")
        retry_after = seen.get("retry_after")
        safe_code = code if code.replace("_", "").isalnum() and len(code) <= 64 else "oauth_error"
        if safe_code == "invalid_grant":
            return TokenEndpointError("invalid_grant", safe_code, status=status)
        if safe_code in _CLIENT_OAUTH_ERRORS:
            return TokenEndpointError("invalid_client", safe_code, status=status)
        if safe_code in _TRANSIENT_OAUTH_ERRORS or (
            status is not None and _kind_for_status(status) == "transient"
        ):
            return TokenEndpointError("transient", safe_code, status=status, retry_after=retry_after)
        return TokenEndpointError("rejected", safe_code, status=status)

    @staticmethod
    def _token_response(token: Any, seen: dict[str, Any], sent_refresh_token: str | None) -> TokenResponse:
        status = int(seen.get("status") or 200)
        if status >= 400:
            raise TokenEndpointError(_kind_for_status(status), f"http_{status}", status=status)
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TokenEndpointError("rejected", "invalid_response", status=status)
        token_type = str(token.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise TokenEndpointError("rejected", "unsupported_token_type", status=status)
        expires_in: int | None = None
        raw_expiry = token.get("expires_in")
        if raw_expiry is not None:
            try:
                expires_in = max(0, int(float(raw_expiry)))
            except (TypeError, ValueError):
                raise TokenEndpointError("rejected", "invalid_response", status=status) from None
        # authlib copies the refresh token we sent into an answer that has none: only a different
        # one is new (rotated)
        refresh_token = token.get("refresh_token")
        if refresh_token == sent_refresh_token:
            refresh_token = None
        scope = token.get("scope")
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        id_token = token.get("id_token")
        return TokenResponse(
            access_token=access_token,
            expires_in=expires_in,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            scope=scope if isinstance(scope, str) else None,
            token_type="Bearer",
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )

    # -- revocation --------------------------------------------------------------------------------
    def revoke(
        self,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        token: str,
        *,
        token_type_hint: Literal["refresh_token", "access_token"],
        timeout: float,
    ) -> Literal["revoked", "already_invalid"]:
        """RFC 7009. `already_invalid`: the provider says the token is unknown or already revoked
        (Google answers 400 invalid_token): the grant is dead either way."""
        import httpx

        url = provider.auth.revocation_url
        if not url:
            raise TokenEndpointError("rejected", "provider_has_no_revocation_endpoint")
        client = self._oauth_client(provider, credentials)
        try:
            resp = client.revoke_token(url, token=token, token_type_hint=token_type_hint, timeout=timeout)
        except httpx.TimeoutException:
            raise TokenEndpointError("transient", "timeout") from None
        except httpx.HTTPError:
            raise TokenEndpointError("transient", "network_error") from None
        status = resp.status_code
        if 200 <= status < 300:
            return "revoked"
        code = ""
        try:
            body = resp.json()
            code = str(body.get("error", "")) if isinstance(body, dict) else ""
        except ValueError:
            code = ""
        if status == 400 and code == "invalid_token":
            return "already_invalid"
        kind = _kind_for_status(status)
        if code in _CLIENT_OAUTH_ERRORS:
            kind = "invalid_client"
        readable = code and code.replace("_", "").isalnum() and len(code) <= 64 and status < 500
        safe = code if readable else f"http_{status}"
        raise TokenEndpointError(kind, safe, status=status, retry_after=_retry_after(resp.headers))
