"""OIDC ID token verification (OpenID Connect Core §3.1.3.7) with joserfc.

Checked: the algorithm (an allow-list: never `none` or HMAC with a public key), the signature
against the provider's JWKS (refetched once when the `kid` is unknown), `iss`, `aud` (the OAuth
client id; with several audiences `azp` must be the client id), `exp` and `iat` (60 s leeway),
`sub` present, and `nonce` equal to the one sealed in the OAuth state.

A rejection raises `InvalidIdToken` whose `reason` is a short safe code for logs and result pages.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from oauth_broker.auth.jwks import JwksError
from oauth_broker.auth.jwt import ALLOWED_ALGORITHMS, InvalidToken, _header

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

LEEWAY_SECONDS = 60
# Google documents both spellings of its issuer in ID tokens.
ISSUER_ALIASES = {"https://accounts.google.com": ("https://accounts.google.com", "accounts.google.com")}

KeySource = Callable[[str | None], "KeySet"]


class InvalidIdToken(Exception):
    """The ID token is not acceptable. `reason`: malformed, algorithm, signature, keys_unavailable,
    issuer, audience, expired, nonce, claims."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def accepted_issuers(issuer: str) -> tuple[str, ...]:
    return ISSUER_ALIASES.get(issuer, (issuer,))


def verify_id_token(
    id_token: str,
    *,
    keys: KeySource,
    issuer: str,
    client_id: str,
    nonce: str | None,
    now: Callable[[], int] | None = None,
    algorithms: Iterable[str] = ALLOWED_ALGORITHMS,
) -> dict[str, Any]:
    """The verified claims of `id_token`; raises `InvalidIdToken`.

    `keys(kid)` returns the provider's key set (e.g. `JwksCache.key_set`). `nonce` is the value sent
    on the authorization request (None: the request carried none, and the token must carry none).
    """
    from joserfc import jwt
    from joserfc.errors import (
        BadSignatureError,
        ExpiredTokenError,
        InvalidClaimError,
        JoseError,
        MissingClaimError,
    )

    allowed = list(algorithms)
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        raise InvalidIdToken("malformed")
    try:
        header = _header(id_token)
    except InvalidToken:
        raise InvalidIdToken("malformed") from None
    if header.get("alg") not in allowed:
        raise InvalidIdToken("algorithm")
    kid = header.get("kid")
    try:
        key_set = keys(kid if isinstance(kid, str) else None)
    except JwksError:
        raise InvalidIdToken("keys_unavailable") from None
    try:
        decoded = jwt.decode(id_token, key_set, algorithms=allowed)
    except BadSignatureError:
        raise InvalidIdToken("signature") from None
    except (JoseError, ValueError, KeyError, TypeError):
        # joserfc raises on an unknown kid or a key that cannot verify: the signature is not ours.
        raise InvalidIdToken("signature") from None

    claims = decoded.claims
    registry_kwargs: dict[str, Any] = {
        "leeway": LEEWAY_SECONDS,
        "iss": {"essential": True, "values": list(accepted_issuers(issuer))},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "sub": {"essential": True},
    }
    if now is not None:
        registry_kwargs["now"] = now
    registry = jwt.JWTClaimsRegistry(**registry_kwargs)
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidIdToken("expired") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        names = set(str(exc.claim).split(","))
        reason = "issuer" if "iss" in names else "audience" if "aud" in names else "claims"
        raise InvalidIdToken(reason) from None
    except JoseError:
        raise InvalidIdToken("claims") from None

    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise InvalidIdToken("audience")
    if "azp" in claims and claims["azp"] != client_id:
        raise InvalidIdToken("audience")

    got = claims.get("nonce")
    if nonce is None:
        if got is not None:
            raise InvalidIdToken("nonce")
    elif not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise InvalidIdToken("nonce")
    return claims
