"""Encryption of secrets: KMS envelope encryption for stored secrets, a KMS-free box for OAuth states.

Importing this package is cheap: neither boto3 nor `cryptography` is imported until used.
"""

from oauth_broker.crypto.envelope import (
    PURPOSES,
    CryptoError,
    DataKeyCache,
    DecryptionError,
    EncryptionContext,
    Envelope,
    KeyServiceError,
)

__all__ = [
    "PURPOSES",
    "CryptoError",
    "DataKeyCache",
    "DecryptionError",
    "EncryptionContext",
    "Envelope",
    "KeyServiceError",
]
