"""Seal an OAuth state's secrets (PKCE verifier, nonce, ...) with a key derived from the state.

The `state` value travels only through the user's browser and the provider; the table holds
`STATE#{state_hash(state)}` and `seal(state, payload)`. Whoever reads the table learns neither
the state nor the payload, and the authorize function needs no KMS. The callback, handed the
state back by the provider, finds the item by its hash and opens it with `open_(state, blob)`.

Blob: `s1.<b64url 12-byte nonce>.<b64url ciphertext + tag>`: AES-256-GCM under the key
HKDF-SHA256(ikm=state (UTF-8), salt=None, info=b"oauth-broker/oauth-state/v1", length=32), a
fresh random nonce per seal, and the version `s1` as associated data.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Final

from oauth_broker.crypto.envelope import DecryptionError, _b64url, _unb64url

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["BOX_VERSION", "MIN_STATE_LENGTH", "open_", "seal", "state_hash"]

BOX_VERSION: Final = "s1"
HKDF_INFO: Final = b"oauth-broker/oauth-state/v1"
# The key is only as strong as the state: ask for at least ~128 bits (22 base64url characters).
# `ids.random_token()` makes 43.
MIN_STATE_LENGTH: Final = 22

_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_AAD: Final = BOX_VERSION.encode("ascii")


def state_hash(state_value: str) -> str:
    """SHA-256 hex of the state: the table key, so the table never holds the state itself."""
    return hashlib.sha256(state_value.encode("utf-8", "surrogatepass")).hexdigest()


def seal(state_value: str, payload: bytes) -> str:
    """Encrypt `payload` under a key derived from `state_value`."""
    if not isinstance(state_value, str) or len(state_value) < MIN_STATE_LENGTH:
        raise ValueError(f"state value must be a random string of at least {MIN_STATE_LENGTH} characters")
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError("seal takes bytes; encode the payload first")
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = _cipher(state_value).encrypt(nonce, bytes(payload), _AAD)
    return ".".join((BOX_VERSION, _b64url(nonce), _b64url(ciphertext)))


def open_(state_value: str, blob: str) -> bytes:
    """Decrypt a `seal` blob; DecryptionError for a wrong state, a tampered or malformed blob."""
    if not isinstance(state_value, str) or not state_value:
        raise DecryptionError("cannot open the state box: no state value")
    if not isinstance(blob, str) or not blob.isascii():
        raise DecryptionError("malformed state box")
    parts = blob.split(".")
    if parts[0] != BOX_VERSION:
        raise DecryptionError(f"unsupported state box version (expected {BOX_VERSION})")
    if len(parts) != 3:
        raise DecryptionError("malformed state box: expected 3 dot-separated parts")
    try:
        nonce, ciphertext = _unb64url(parts[1]), _unb64url(parts[2])
    except ValueError:
        raise DecryptionError("malformed state box: a part is not canonical base64url") from None
    if len(nonce) != _NONCE_BYTES:
        raise DecryptionError(f"malformed state box: nonce must be {_NONCE_BYTES} bytes")
    if len(ciphertext) < _TAG_BYTES:
        raise DecryptionError("malformed state box: ciphertext shorter than the authentication tag")

    from cryptography.exceptions import InvalidTag

    try:
        return _cipher(state_value).decrypt(nonce, ciphertext, _AAD)
    except InvalidTag:
        raise DecryptionError("state box failed authentication: wrong state or tampered blob") from None


def _cipher(state_value: str) -> AESGCM:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        state_value.encode("utf-8", "surrogatepass")
    )
    return AESGCM(key)
