"""What the broker keeps about a refresh token so a provider's security event can name it: digests
of its token identifiers, never the identifiers themselves.

Google's Cross-Account Protection `token-revoked` event names one refresh token by an identifier
(`token_identifier_alg`, `token`): `prefix`, the token's first 16 characters, or
`hash_base64_sha512_sha512`, base64 of SHA-512 of SHA-512 of the token. A prefix is itself a
fragment of a secret, so neither is stored: for each identifier the broker keeps one SHA-256 (hex)
digest, computed where the plaintext exists (when the token is encrypted) and again from the event's
identifier when one arrives (`ConnectionStore.by_token_identifier`).

- `prefix`: SHA-256 of the first 16 characters (UTF-8).
- `hash_base64_sha512_sha512`: SHA-256 of the 64 raw bytes of SHA-512(SHA-512(token)), the outer
  hash over the inner one's raw digest. The event's base64 is decoded first, so standard or
  URL-safe alphabets, with or without padding, all name the same token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

PREFIX = "prefix"
HASH_SHA512_SHA512 = "hash_base64_sha512_sha512"
ALGORITHMS = (PREFIX, HASH_SHA512_SHA512)
PREFIX_LENGTH = 16
_SHA512_BYTES = 64
# base64 of 64 bytes: 86 characters, then up to two of padding; either alphabet
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{86}={0,2}")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def double_sha512(refresh_token: str) -> bytes:
    """SHA-512 of the raw SHA-512 of the token (UTF-8): what `hash_base64_sha512_sha512` encodes."""
    return hashlib.sha512(hashlib.sha512(refresh_token.encode()).digest()).digest()


def google_hash_identifier(refresh_token: str) -> str:
    """The token's `hash_base64_sha512_sha512` identifier as Google spells it (standard base64,
    padded). Not stored anywhere: for the fake Google's transmitter and for tests."""
    return base64.b64encode(double_sha512(refresh_token)).decode()


def token_digests(refresh_token: str) -> tuple[str, str]:
    """(digest of its `prefix` identifier, digest of its `hash_base64_sha512_sha512` identifier)."""
    return (
        _sha256_hex(refresh_token[:PREFIX_LENGTH].encode()),
        _sha256_hex(double_sha512(refresh_token)),
    )


def identifier_digest(alg: str, token: str) -> str | None:
    """The digest `token_digests` keeps for the refresh token an event names as (`alg`, `token`);
    None for an unknown algorithm or an identifier that cannot name any token."""
    if alg == PREFIX:
        return _sha256_hex(token[:PREFIX_LENGTH].encode()) if token else None
    if alg == HASH_SHA512_SHA512:
        if not _BASE64.fullmatch(token):
            return None
        standard = token.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(standard + "==", validate=True)
        except (binascii.Error, ValueError):
            return None
        return _sha256_hex(raw) if len(raw) == _SHA512_BYTES else None
    return None
