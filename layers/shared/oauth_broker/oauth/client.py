"""The authorization request (RFC 6749 §4.1.1 with PKCE S256, RFC 7636), built by authlib.

Everything that calls a provider's token or revocation endpoint (the code exchange, refresh,
revocation) goes through the one adapter, `tokens.endpoint.ProviderTokenClient`; this module
only builds the URL the browser is sent to, with the same authlib client class.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import ProviderDefinition

# RFC 7636: 43-128 characters of [A-Za-z0-9-._~]; 64 random bytes make 86 characters.
_VERIFIER_BYTES = 64


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636 §4.1), 512 bits of randomness."""
    return secrets.token_urlsafe(_VERIFIER_BYTES)


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
    from oauth_broker.tokens.endpoint import authlib_client_class

    if provider.auth.authorization_url is None:
        raise ValueError(f"provider {provider.key} has no authorization URL")
    client = authlib_client_class()(
        None, client_id=client_id, redirect_uri=redirect_uri, code_challenge_method="S256"
    )
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
