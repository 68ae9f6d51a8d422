"""The fake's RS256 signing keys, its JWKS and ID tokens."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


class SigningKeys:
    """The current key signs; the previous one stays published in the JWKS, as Google does."""

    def __init__(self, key: RSAKey | None = None) -> None:
        self.current = key or _new_key()
        self.previous: RSAKey | None = None

    @property
    def kid(self) -> str:
        return str(self.current.kid)

    def rotate(self) -> str:
        self.previous, self.current = self.current, _new_key()
        return self.kid

    def jwks(self) -> dict[str, Any]:
        keys = [self.current] + ([self.previous] if self.previous else [])
        return {"keys": [key.as_dict(private=False) for key in keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.current)


def at_hash(access_token: str) -> str:
    """OIDC `at_hash`: base64url of the left half of SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
