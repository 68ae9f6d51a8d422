"""`bearer_credential()`: the credential of an `Authorization: Bearer …` header, parsed in one place."""

from __future__ import annotations


def bearer_credential(authorization: str | None) -> str | None:
    """The credential after `Bearer ` (scheme case-insensitive), or None for anything else."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential
