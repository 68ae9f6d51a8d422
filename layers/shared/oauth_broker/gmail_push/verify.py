"""The OIDC token a Cloud Pub/Sub push subscription sends with each push (`Authorization: Bearer`):
a Google ID token for the subscription's service account.

`verify_push_token` checks what holds for every tenant: Google's signature (RS256 against the
keys at the catalog's `google.gmail_push.jwks_url`: `PushKeys`, cached, refetched for an unknown
`kid`), `iss` one of the catalog's issuers, `exp` not passed (`iat` not in the future, both with
`CLOCK_SKEW_SECONDS`), and `aud`, `email` and `email_verified` present. Which tenant the push is
for is decided after (`PushToken.authorizes`): `aud` must be that tenant's `push_audience` and
`email` its `push_service_account`, with `email_verified` true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oauth_broker.auth.signed_token import KeySource, TokenRefused, verified_claims
from oauth_broker.store.models import GmailPushConfig

__all__ = ["CLOCK_SKEW_SECONDS", "PushToken", "PushTokenRefused", "verify_push_token"]

CLOCK_SKEW_SECONDS = 60
MAX_TOKEN_LENGTH = 8192


class PushTokenRefused(TokenRefused):
    """`reason`: malformed, algorithm, signature, issuer, expired, future, claims."""


@dataclass(frozen=True)
class PushToken:
    audience: str
    email: str
    email_verified: bool
    expires_at: int

    def authorizes(self, config: GmailPushConfig | None) -> bool:
        """Whether a tenant with these push settings sent this push."""
        return (
            config is not None
            and self.email_verified
            and self.audience == config.push_audience
            and self.email == config.push_service_account.lower()
        )


def _claims(token: str, keys: KeySource) -> dict[str, Any]:
    try:
        return verified_claims(token, keys, max_length=MAX_TOKEN_LENGTH)
    except TokenRefused as refused:
        raise PushTokenRefused(refused.reason) from None


def verify_push_token(
    token: str,
    *,
    keys: KeySource,
    issuers: tuple[str, ...],
    now: Callable[[], float] = time.time,
) -> PushToken:
    """The verified token; raises `PushTokenRefused` (key loading errors propagate)."""
    claims = _claims(token, keys)
    if claims.get("iss") not in issuers:
        raise PushTokenRefused("issuer")
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise PushTokenRefused("claims")
    moment = now()
    if exp < moment - CLOCK_SKEW_SECONDS:
        raise PushTokenRefused("expired")
    if isinstance(iat, int | float) and not isinstance(iat, bool) and iat > moment + CLOCK_SKEW_SECONDS:
        raise PushTokenRefused("future")
    aud, email, verified = claims.get("aud"), claims.get("email"), claims.get("email_verified")
    if not isinstance(aud, str) or not aud or not isinstance(email, str) or not email:
        raise PushTokenRefused("claims")
    return PushToken(
        audience=aud,
        email=email.strip().lower(),
        email_verified=verified is True or verified == "true",
        expires_at=int(exp),
    )
