"""Opaque identifiers and random secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# 16 bytes = 128 bits of randomness (API.md asks for at least 96).
_ID_BYTES = 16


def new_id(prefix: str) -> str:
    """`con_…`, `ocl_…`, `cs_…`: a type prefix and 128 random bits, URL-safe."""
    return f"{prefix}_{secrets.token_hex(_ID_BYTES)}"


def random_token(prefix: str = "", nbytes: int = 32) -> str:
    """A bearer secret (session token, OAuth state, API key): 256 bits by default."""
    token = secrets.token_urlsafe(nbytes)
    return f"{prefix}_{token}" if prefix else token


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hint(secret: str) -> str:
    """What a read shows of a write-only secret: its last 4 characters."""
    return f"…{secret[-4:]}" if len(secret) >= 8 else "…"
