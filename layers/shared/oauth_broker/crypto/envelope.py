"""Envelope encryption: a KMS data key per encryption context, AES-256-GCM for the data.

A secret is stored as one compact ASCII string (a DynamoDB `S` attribute)::

    v1.<b64url encrypted data key>.<b64url 12-byte nonce>.<b64url ciphertext + 16-byte tag>

The encryption context (tenant, record ID, purpose) binds a blob to its record twice: KMS
refuses to decrypt the data key under another context, and the context's canonical encoding
is the AES-GCM associated data, so a blob moved to another record fails even when its data
key is already in the cache.

We use `cryptography`'s AESGCM directly rather than the AWS Encryption SDK: it imports in a
fraction of the time and the blob is a fraction of the size (`bench/bench_crypto.py` measures
both). Nothing here imports boto3 or `cryptography` at module import time: the client is made
on demand when none is injected, and AESGCM is imported on first use.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, overload

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from mypy_boto3_kms import KMSClient

__all__ = [
    "FORMAT_VERSION",
    "PURPOSES",
    "CryptoError",
    "DataKeyCache",
    "DecryptionError",
    "EncryptionContext",
    "Envelope",
    "KeyServiceError",
]

FORMAT_VERSION: Final = "v1"
PURPOSES: Final = frozenset({"client_secret", "webhook_secret", "refresh_token", "access_token"})

_DATA_KEY_BYTES: Final = 32  # AES-256
_NONCE_BYTES: Final = 12  # 96-bit GCM nonce
_TAG_BYTES: Final = 16
_AAD_LABEL: Final = b"oauth-broker/encryption-context/v1"

# KMS error codes that mean "this blob cannot be opened with this key and context". Anything
# else (throttling, KMS unavailable, key disabled or missing, network) is a KeyServiceError:
# an operational fault that says nothing about the blob.
_DECRYPT_REFUSALS: Final = frozenset(
    {
        "InvalidCiphertextException",  # tampered data key or wrong encryption context
        "IncorrectKeyException",  # data key was encrypted under another KMS key
        "AccessDeniedException",  # key not usable by this caller for this context (IAM conditions)
        "InvalidKeyUsageException",
    }
)


# -- errors ------------------------------------------------------------------------------------
class CryptoError(Exception):
    """Base of the crypto layer's errors. Messages never contain plaintext or key material."""


class DecryptionError(CryptoError):
    """The blob cannot be opened: tampered, malformed, unknown version, wrong context or key."""


class KeyServiceError(CryptoError):
    """KMS could not be used (throttled, unavailable, key disabled or missing): may be retried."""


# -- encryption context ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EncryptionContext:
    """What a secret belongs to. Not secret itself: it is sent to KMS and logged by CloudTrail."""

    tenant: str
    record_id: str
    purpose: str

    def __post_init__(self) -> None:
        for name in ("tenant", "record_id", "purpose"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"EncryptionContext.{name} must be a non-empty string")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"EncryptionContext.{name} is not valid Unicode") from None
        if self.purpose not in PURPOSES:
            allowed = ", ".join(sorted(PURPOSES))
            raise ValueError(f"EncryptionContext.purpose must be one of {allowed}; got {self.purpose!r}")

    def as_kms(self) -> dict[str, str]:
        """The `EncryptionContext` parameter of every KMS call (IAM pins `purpose` per function)."""
        return {"tenant": self.tenant, "record_id": self.record_id, "purpose": self.purpose}

    def canonical_bytes(self) -> bytes:
        """An injective byte encoding: the AES-GCM associated data.

        A fixed label, then each field as `len(name) name len(value) value` with 4-byte
        big-endian lengths, in a fixed order, so no two contexts encode alike.
        """
        parts = [_AAD_LABEL]
        fields = (("tenant", self.tenant), ("record_id", self.record_id), ("purpose", self.purpose))
        for name, value in fields:  # this order is part of the format: never change it
            for item in (name.encode("ascii"), value.encode("utf-8")):
                parts.append(len(item).to_bytes(4, "big"))
                parts.append(item)
        return b"".join(parts)


# -- data key cache ----------------------------------------------------------------------------
class _Entry:
    __slots__ = ("created_at", "encrypted_key", "plaintext_key", "uses")

    def __init__(self, plaintext_key: bytearray, encrypted_key: bytes, created_at: float, uses: int) -> None:
        self.plaintext_key = plaintext_key
        self.encrypted_key = encrypted_key
        self.created_at = created_at
        self.uses = uses

    def __repr__(self) -> str:  # never the key
        return f"_Entry(created_at={self.created_at}, uses={self.uses})"


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


_CacheKey = tuple[Any, ...]


class DataKeyCache:
    """In-memory, thread-safe cache of plaintext data keys, bounded by age, uses and entries.

    Two kinds of entry share one store:

    - for encryption, per (KMS key, context): the data key and its encrypted copy, reused for at
      most `max_uses` encryptions and `max_age_seconds`, then replaced by a new GenerateDataKey;
    - for decryption, per (KMS key, encrypted data key, context): the plaintext key, so records
      that share a data key cost one KMS Decrypt, with the same bounds.

    Beyond `max_entries` the oldest entries are evicted. The cache owns the bytearrays handed to
    `put_*` and zeroes them when they are evicted or on `clear()`; readers get immutable copies,
    so wiping never pulls a key from under an encryption in progress. (Python cannot wipe those
    copies or the bytes of the KMS response: this narrows exposure, it does not guarantee it.)
    """

    def __init__(self, max_age_seconds: float = 300, max_uses: int = 1000, max_entries: int = 1000) -> None:
        if max_age_seconds <= 0:
            raise ValueError("max_age_seconds must be positive")
        if max_uses < 1:
            raise ValueError("max_uses must be at least 1")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_age_seconds = float(max_age_seconds)
        self.max_uses = int(max_uses)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[_CacheKey, _Entry] = OrderedDict()  # oldest first
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    # counters
    @property
    def hits(self) -> int:
        return self._hits

    @property
    def misses(self) -> int:
        return self._misses

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"DataKeyCache(entries={len(self)}, hits={self._hits}, misses={self._misses}, "
            f"max_age_seconds={self.max_age_seconds}, max_uses={self.max_uses}, "
            f"max_entries={self.max_entries})"
        )

    # encryption side
    def get_for_encrypt(self, key_id: str, ctx: EncryptionContext, now: float) -> tuple[bytes, bytes] | None:
        """(plaintext key, encrypted key) for one more encryption under `ctx`, or None."""
        return self._take(("encrypt", key_id, ctx), now)

    def put_for_encrypt(
        self, key_id: str, ctx: EncryptionContext, plaintext_key: bytearray, encrypted_key: bytes, now: float
    ) -> None:
        """Cache a fresh data key that has just been used once. Takes ownership of `plaintext_key`."""
        self._put(("encrypt", key_id, ctx), _Entry(plaintext_key, encrypted_key, now, uses=1), now)

    # decryption side
    def get_for_decrypt(
        self, key_id: str, encrypted_key: bytes, ctx: EncryptionContext, now: float
    ) -> bytes | None:
        found = self._take(("decrypt", key_id, encrypted_key, ctx), now)
        return None if found is None else found[0]

    def put_for_decrypt(
        self, key_id: str, encrypted_key: bytes, ctx: EncryptionContext, plaintext_key: bytearray, now: float
    ) -> None:
        """Cache a data key that KMS has just decrypted (one use). Takes ownership of `plaintext_key`."""
        entry = _Entry(plaintext_key, encrypted_key, now, uses=1)
        self._put(("decrypt", key_id, encrypted_key, ctx), entry, now)

    def clear(self) -> None:
        """Zero every cached key and empty the cache (counters are kept)."""
        with self._lock:
            for entry in self._entries.values():
                _wipe(entry.plaintext_key)
            self._entries.clear()

    # internals
    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.created_at >= self.max_age_seconds

    def _take(self, key: _CacheKey, now: float) -> tuple[bytes, bytes] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (self._expired(entry, now) or entry.uses >= self.max_uses):
                del self._entries[key]
                _wipe(entry.plaintext_key)
                entry = None
            if entry is None:
                self._misses += 1
                return None
            entry.uses += 1
            self._hits += 1
            result = (bytes(entry.plaintext_key), entry.encrypted_key)
            if entry.uses >= self.max_uses:  # spent: do not keep the key around any longer
                del self._entries[key]
                _wipe(entry.plaintext_key)
            return result

    def _put(self, key: _CacheKey, entry: _Entry, now: float) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:  # another thread missed at the same time
                _wipe(previous.plaintext_key)
            if entry.uses >= self.max_uses:  # max_uses=1: nothing left to reuse
                _wipe(entry.plaintext_key)
                return
            self._entries[key] = entry
            # Entries are in creation order and share one max age, so expired ones are at the front.
            while self._entries:
                oldest_key, oldest = next(iter(self._entries.items()))
                if len(self._entries) <= self.max_entries and not self._expired(oldest, now):
                    break
                del self._entries[oldest_key]
                _wipe(oldest.plaintext_key)


# -- blob encoding -----------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    """Strict, canonical base64url without padding; raises ValueError otherwise."""
    if not text:
        raise ValueError("empty part")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if _b64url(raw) != text:  # rejects padding, stray bits and other non-canonical spellings
        raise ValueError("not canonical base64url")
    return raw


def _parse_blob(blob: str) -> tuple[bytes, bytes, bytes]:
    if not isinstance(blob, str):
        raise DecryptionError("malformed blob: expected a string")
    if not blob.isascii():
        raise DecryptionError("malformed blob: not ASCII")
    parts = blob.split(".")
    if parts[0] != FORMAT_VERSION:
        raise DecryptionError(f"unsupported blob version (expected {FORMAT_VERSION})")
    if len(parts) != 4:
        raise DecryptionError("malformed blob: expected 4 dot-separated parts")
    try:
        encrypted_key, nonce, ciphertext = (_unb64url(part) for part in parts[1:])
    except ValueError:
        raise DecryptionError("malformed blob: a part is not canonical base64url") from None
    if len(nonce) != _NONCE_BYTES:
        raise DecryptionError(f"malformed blob: nonce must be {_NONCE_BYTES} bytes")
    if len(ciphertext) < _TAG_BYTES:
        raise DecryptionError("malformed blob: ciphertext shorter than the authentication tag")
    return encrypted_key, nonce, ciphertext


def _kms_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return str(code) if code else None
    return None


# -- envelope ----------------------------------------------------------------------------------
class Envelope:
    """`encrypt(plaintext, ctx) -> blob` and `decrypt(blob, ctx) -> plaintext` under one KMS key.

    `kms_client`: a boto3 KMS client (one is created when None). `cache`: an optional
    DataKeyCache; without one every encryption calls GenerateDataKey and every decryption calls
    Decrypt. `clock`: monotonic seconds, for the cache's max age.
    """

    @overload
    def __init__(
        self,
        kms_client: KMSClient | None,
        key_id: str,
        *,
        cache: DataKeyCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None: ...

    @overload
    def __init__(
        self,
        kms_client: KMSClient | None = None,
        *,
        key_id: str,
        cache: DataKeyCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None: ...

    def __init__(
        self,
        kms_client: KMSClient | None = None,
        key_id: str | None = None,
        *,
        cache: DataKeyCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not key_id or not isinstance(key_id, str):
            raise ValueError("Envelope needs a KMS key ID, ARN or alias")
        if kms_client is None:
            import boto3  # only here: importing this module must stay cheap

            kms_client = boto3.client("kms")
        self._kms: Any = kms_client
        self.key_id = key_id
        self.cache = cache
        self._clock = clock

    def __repr__(self) -> str:
        return f"Envelope(key_id={self.key_id!r}, cache={self.cache!r})"

    def encrypt(self, plaintext: bytes, ctx: EncryptionContext) -> str:
        if not isinstance(plaintext, bytes | bytearray | memoryview):
            raise TypeError("Envelope.encrypt takes bytes; encode text first")
        if not isinstance(ctx, EncryptionContext):
            raise TypeError("Envelope.encrypt needs an EncryptionContext")
        data_key, encrypted_key = self._data_key_for_encrypt(ctx)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = _aesgcm(data_key).encrypt(nonce, bytes(plaintext), ctx.canonical_bytes())
        return ".".join((FORMAT_VERSION, _b64url(encrypted_key), _b64url(nonce), _b64url(ciphertext)))

    def decrypt(self, blob: str, ctx: EncryptionContext) -> bytes:
        if not isinstance(ctx, EncryptionContext):
            raise TypeError("Envelope.decrypt needs an EncryptionContext")
        encrypted_key, nonce, ciphertext = _parse_blob(blob)
        data_key = self._data_key_for_decrypt(encrypted_key, ctx)
        from cryptography.exceptions import InvalidTag

        try:
            return _aesgcm(data_key).decrypt(nonce, ciphertext, ctx.canonical_bytes())
        except InvalidTag:
            raise DecryptionError(
                "ciphertext failed authentication: tampered blob or wrong encryption context"
            ) from None

    # data keys
    def _data_key_for_encrypt(self, ctx: EncryptionContext) -> tuple[bytes, bytes]:
        if self.cache is not None:
            cached = self.cache.get_for_encrypt(self.key_id, ctx, self._clock())
            if cached is not None:
                return cached
        response = self._call_kms(
            lambda: self._kms.generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=ctx.as_kms()
            ),
            decrypting=False,
        )
        plaintext_key = _key_from(response.get("Plaintext"))
        encrypted_key = response.get("CiphertextBlob")
        if not isinstance(encrypted_key, bytes) or not encrypted_key:
            raise KeyServiceError("KMS GenerateDataKey returned no encrypted data key")
        result = (bytes(plaintext_key), encrypted_key)
        if self.cache is not None:
            self.cache.put_for_encrypt(self.key_id, ctx, plaintext_key, encrypted_key, self._clock())
        else:
            _wipe(plaintext_key)
        return result

    def _data_key_for_decrypt(self, encrypted_key: bytes, ctx: EncryptionContext) -> bytes:
        if self.cache is not None:
            cached = self.cache.get_for_decrypt(self.key_id, encrypted_key, ctx, self._clock())
            if cached is not None:
                return cached
        response = self._call_kms(
            lambda: self._kms.decrypt(
                CiphertextBlob=encrypted_key, KeyId=self.key_id, EncryptionContext=ctx.as_kms()
            ),
            decrypting=True,
        )
        plaintext_key = _key_from(response.get("Plaintext"), decrypting=True)
        result = bytes(plaintext_key)
        if self.cache is not None:
            self.cache.put_for_decrypt(self.key_id, encrypted_key, ctx, plaintext_key, self._clock())
        else:
            _wipe(plaintext_key)
        return result

    @staticmethod
    def _call_kms(call: Callable[[], Mapping[str, Any]], *, decrypting: bool) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # loaded already by any boto3 client

        try:
            response = call()
        except ClientError as exc:
            code = _kms_error_code(exc) or "unknown error"
            if decrypting and code in _DECRYPT_REFUSALS:
                raise DecryptionError(
                    f"KMS refused to decrypt the data key ({code}): "
                    "tampered data key, wrong encryption context or wrong KMS key"
                ) from exc
            action = "decrypt the data key" if decrypting else "generate a data key"
            raise KeyServiceError(f"KMS could not {action} ({code})") from exc
        except BotoCoreError as exc:
            raise KeyServiceError(f"KMS unreachable ({type(exc).__name__})") from exc
        return response


def _key_from(value: object, *, decrypting: bool = False) -> bytearray:
    if not isinstance(value, bytes | bytearray) or len(value) != _DATA_KEY_BYTES:
        operation = "Decrypt" if decrypting else "GenerateDataKey"
        raise KeyServiceError(f"KMS {operation} did not return a {_DATA_KEY_BYTES}-byte data key")
    return bytearray(value)


def _aesgcm(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)
