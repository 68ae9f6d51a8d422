"""Verification of the deployer's OIDC JWTs: signature, algorithm allow-list, iss, aud, exp, nbf."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from typing import Any

from oauth_broker.auth.jwks import JwksCache, JwksError

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


class InvalidToken(Exception):
    """The token is not acceptable; the message is safe to log (no token material)."""


def _header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".")[0]
        data: dict[str, Any] = json.loads(urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        return data
    except Exception:
        raise InvalidToken("malformed token") from None


class JwtVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JwksCache,
        algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS,
        leeway_seconds: int = 30,
    ):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.algorithms = algorithms
        self.leeway = leeway_seconds

    def verify(self, token: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        if token.count(".") != 2:
            raise InvalidToken("not a compact JWS")
        header = _header(token)
        if header.get("alg") not in self.algorithms:
            raise InvalidToken(f"algorithm {header.get('alg')!r} not allowed")
        try:
            keys = self.jwks.key_set(header.get("kid"))
            decoded = jwt.decode(token, keys, algorithms=list(self.algorithms))
            registry = jwt.JWTClaimsRegistry(
                leeway=self.leeway,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            )
            registry.validate(decoded.claims)
        except JwksError:
            # Not the token's fault: the keys cannot be loaded (the IdP's JWKS is down at a cold
            # start). Raised, not denied: API Gateway answers 500 and caches no decision, where a
            # denial would be a 403 cached for the authorizer's TTL after the IdP is back.
            raise
        except (JoseError, ValueError) as exc:
            raise InvalidToken(f"rejected: {type(exc).__name__}") from None
        return decoded.claims
