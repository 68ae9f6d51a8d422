"""A compact JWS from a party that signs with published keys (Google's RISC transmitter, Google's
ID tokens on Pub/Sub pushes), decoded with joserfc: the claims, once the signature is good.

Only the algorithms the caller names are accepted (never `none` or HMAC); the key set comes from
`keys(kid)` (a JWKS cache that refetches for an unknown `kid`). A refusal raises
`TokenRefused(reason)`, `reason` a short safe code for the log (`malformed`, `algorithm`,
`signature`); the token itself is never echoed.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

__all__ = ["KeySource", "TokenRefused", "verified_claims"]

KeySource = Callable[[str | None], "KeySet"]


class TokenRefused(Exception):
    """The token fails a check; `reason` is a short code safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".", 1)[0]
        data = json.loads(urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except Exception:
        raise TokenRefused("malformed") from None
    if not isinstance(data, dict):
        raise TokenRefused("malformed")
    return data


def verified_claims(
    token: str, keys: KeySource, *, algorithms: Sequence[str] = ("RS256",), max_length: int = 16_384
) -> dict[str, Any]:
    """The claims of `token` once its signature verifies against `keys(kid)`. Errors loading the
    keys (not the token's fault) propagate as they are."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    if not isinstance(token, str) or len(token) > max_length or token.count(".") != 2:
        raise TokenRefused("malformed")
    header = _header(token)
    if header.get("alg") not in algorithms:
        raise TokenRefused("algorithm")
    kid = header.get("kid")
    key_set = keys(kid if isinstance(kid, str) else None)
    try:
        decoded = jwt.decode(token, key_set, algorithms=list(algorithms))
    except (JoseError, ValueError, KeyError, TypeError):
        # a bad signature, or no key for the kid even after the refetch
        raise TokenRefused("signature") from None
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise TokenRefused("malformed")
    return claims
