"""Verifying a security event token (SET, RFC 8417) from Google's RISC transmitter, with joserfc.

Checked, in this order, all before anything is written:
- a compact JWS signed with RS256 (the only algorithm Google's RISC transmitter uses; never
  `none` or HMAC), against the keys of the `jwks_uri` that the RISC configuration document names
  (`RiscKeys`: both cached; a `kid` the cached set lacks refetches the JWKS once, then refuses);
- `iss` equal to the catalog's RISC issuer (`providers` data: `google.risc.issuer`);
- `aud` one of the OAuth client ids some tenant registered (`audience_known`: an index Query);
- `iat` no older than `MAX_AGE_SECONDS` (1 hour) and not in the future by more than
  `CLOCK_SKEW_SECONDS` (60 s: a transmitter clock slightly ahead of ours is not an attack);
- `jti` a non-empty string of at most `MAX_JTI_LENGTH` characters (acted on once: `risc.replay`);
- `events` an object of event type URI -> event object.

A refusal raises `SecurityEventRefused(reason)`: the reason is a short safe code for the log; the
caller answers a generic 400 and never echoes the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.auth.jwks import JwksCache, JwksError
from oauth_broker.auth.signed_token import KeySource, TokenRefused, verified_claims

if TYPE_CHECKING:
    import httpx
    from joserfc.jwk import KeySet

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "MAX_AGE_SECONDS",
    "RiscKeys",
    "RiscKeysUnavailable",
    "SecurityEventRefused",
    "SecurityEventToken",
    "verify_security_event",
]

ALGORITHMS = ("RS256",)
MAX_AGE_SECONDS = 3600
CLOCK_SKEW_SECONDS = 60
MAX_JTI_LENGTH = 256
MAX_TOKEN_LENGTH = 16_384
CONFIGURATION_TTL_SECONDS = 3600.0
JWKS_TTL_SECONDS = 3600.0


class SecurityEventRefused(TokenRefused):
    """The token fails a check. `reason`: malformed, algorithm, keys_unavailable, signature,
    issuer, audience, stale, future, claims."""


class RiscKeysUnavailable(Exception):
    """Neither the RISC configuration document nor its JWKS could be loaded (not the token's
    fault: the caller answers 503 and the transmitter retries)."""


@dataclass(frozen=True)
class SecurityEventToken:
    """A verified SET's claims: `events` maps each event type URI to its event object."""

    jti: str
    issuer: str
    audience: str
    issued_at: int
    events: Mapping[str, Mapping[str, Any]]


class RiscKeys:
    """The transmitter's signing keys: its RISC configuration document (cached `ttl_seconds`),
    then the JWKS at its `jwks_uri` (a `JwksCache`: cached, and refetched once for an unknown
    `kid` on every token that names one, so a rotated key is picked up on its first token). The
    document's `issuer` must be the expected one: keys named by another issuer's document are
    never used."""

    def __init__(
        self,
        configuration_url: str,
        issuer: str,
        http: httpx.Client,
        *,
        ttl_seconds: float = CONFIGURATION_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.configuration_url = configuration_url
        self.issuer = issuer
        self._http = http
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks: JwksCache | None = None
        self._loaded_at = 0.0
        self.configuration_fetches = 0

    @property
    def jwks(self) -> JwksCache:
        return self._jwks_cache()

    def _jwks_cache(self) -> JwksCache:
        with self._lock:
            now = self._clock()
            if self._jwks is None or now - self._loaded_at > self._ttl:
                jwks_uri = self._load_configuration()
                if jwks_uri is None:
                    if self._jwks is None:
                        raise RiscKeysUnavailable("the RISC configuration document could not be loaded")
                    self._loaded_at = now  # keep the last good keys through an outage
                elif self._jwks is None or self._jwks.url != jwks_uri:
                    self._jwks = JwksCache(
                        jwks_uri, self._http, ttl_seconds=JWKS_TTL_SECONDS, min_refetch_seconds=0
                    )
                    self._loaded_at = now
                else:
                    self._loaded_at = now
            assert self._jwks is not None
            return self._jwks

    def _load_configuration(self) -> str | None:
        """The document's `jwks_uri`, or None when it cannot be read or names another issuer."""
        try:
            resp = self._http.get(self.configuration_url, timeout=5.0)
            resp.raise_for_status()
            document = resp.json()
        except Exception:
            return None
        self.configuration_fetches += 1
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            return None
        jwks_uri = document.get("jwks_uri")
        return jwks_uri if isinstance(jwks_uri, str) and jwks_uri else None

    def key_set(self, kid: str | None) -> KeySet:
        try:
            return self._jwks_cache().key_set(kid)
        except JwksError:
            raise RiscKeysUnavailable("the RISC JWKS could not be loaded") from None


def _signed_claims(token: str, keys: KeySource) -> dict[str, Any]:
    try:
        return verified_claims(token, keys, algorithms=ALGORITHMS, max_length=MAX_TOKEN_LENGTH)
    except SecurityEventRefused:
        raise
    except TokenRefused as refused:
        raise SecurityEventRefused(refused.reason) from None


def verify_security_event(
    token: str,
    *,
    keys: KeySource,
    issuer: str,
    audience_known: Callable[[str], bool],
    now: Callable[[], float] = time.time,
) -> SecurityEventToken:
    """The verified token; raises `SecurityEventRefused` (or `RiscKeysUnavailable`)."""
    claims = _signed_claims(token, keys)
    if claims.get("iss") != issuer:
        raise SecurityEventRefused("issuer")
    jti, iat, events = claims.get("jti"), claims.get("iat"), claims.get("events")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise SecurityEventRefused("claims")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise SecurityEventRefused("claims")
    if (
        not isinstance(events, dict)
        or not events
        or not all(isinstance(k, str) and isinstance(v, dict) for k, v in events.items())
    ):
        raise SecurityEventRefused("claims")
    aud = claims.get("aud")
    listed = aud if isinstance(aud, list) else [aud]
    audiences = [a for a in listed if isinstance(a, str) and a]
    if not audiences or len(audiences) != len(listed):
        raise SecurityEventRefused("audience")
    moment = now()
    if iat < moment - MAX_AGE_SECONDS:
        raise SecurityEventRefused("stale")
    if iat > moment + CLOCK_SKEW_SECONDS:
        raise SecurityEventRefused("future")
    known = [a for a in audiences if audience_known(a)]
    if len(known) != 1:  # none registered, or several: which client's connections is ambiguous
        raise SecurityEventRefused("audience")
    return SecurityEventToken(jti=jti, issuer=issuer, audience=known[0], issued_at=int(iat), events=events)
