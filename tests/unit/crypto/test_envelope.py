"""Envelope: KMS data keys + AES-256-GCM, bound to an encryption context (moto's KMS in-process)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from oauth_broker.crypto import envelope as envelope_module
from oauth_broker.crypto.envelope import (
    CryptoError,
    DecryptionError,
    EncryptionContext,
    Envelope,
    KeyServiceError,
)

if TYPE_CHECKING:
    from conftest import KmsRecorder

SECRET = b"1//0g-refresh-token-that-must-never-leak-0123456789"
CTX = EncryptionContext(tenant="acme", record_id="con_0123", purpose="refresh_token")
SRC = Path(envelope_module.__file__).resolve().parents[2]  # the tree this test imported


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def flip_bit(part: str, index: int) -> str:
    raw = bytearray(b64url_decode(part))
    raw[index] ^= 0x01
    return b64url_encode(bytes(raw))


def replace_part(blob: str, position: int, new: str) -> str:
    parts = blob.split(".")
    parts[position] = new
    return ".".join(parts)


def exception_text(exc: BaseException) -> str:
    """str() and repr() of an exception and of everything chained to it."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def leak_forms(secret: bytes) -> list[str]:
    """Ways a secret could show up in text: raw, hex, base64, base64url."""
    return [
        secret.decode("latin-1"),
        repr(secret)[2:42],
        secret.hex(),
        base64.b64encode(secret).decode()[:40],
        b64url_encode(secret)[:40],
    ]


# -- round trip and format --------------------------------------------------------------------
def test_given_a_secret_when_encrypted_then_decrypting_with_the_same_context_returns_it(
    kms: Any, key_id: str
) -> None:
    envelope = Envelope(kms, key_id)

    blob = envelope.encrypt(SECRET, CTX)

    assert envelope.decrypt(blob, CTX) == SECRET


def test_given_a_secret_when_encrypted_then_the_blob_is_v1_key_nonce_and_ciphertext_in_base64url(
    kms: Any, key_id: str
) -> None:
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)

    version, encrypted_key, nonce, ciphertext = blob.split(".")
    assert blob.isascii()
    assert version == "v1"
    assert all(
        set(part) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for part in blob.split(".")[1:]
    )
    assert len(b64url_decode(nonce)) == 12
    assert len(b64url_decode(ciphertext)) == len(SECRET) + 16
    assert b64url_decode(encrypted_key)


def test_given_a_cached_data_key_when_the_same_secret_is_encrypted_twice_then_each_blob_has_a_fresh_nonce(
    kms: Any, key_id: str
) -> None:
    from oauth_broker.crypto.envelope import DataKeyCache

    envelope = Envelope(kms, key_id, cache=DataKeyCache())

    first, second = envelope.encrypt(SECRET, CTX), envelope.encrypt(SECRET, CTX)

    assert first.split(".")[1] == second.split(".")[1]  # same data key...
    assert first.split(".")[2] != second.split(".")[2]  # ...never the same nonce
    assert first.split(".")[3] != second.split(".")[3]


def test_given_a_secret_when_encrypted_then_the_blob_does_not_contain_it_in_any_encoding(
    kms: Any, key_id: str
) -> None:
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)

    for form in leak_forms(SECRET):
        assert form not in blob


def test_given_a_v1_blob_built_by_hand_from_the_documented_format_when_decrypted_then_it_opens() -> None:
    """Pins the stored format: b64url parts without padding and the context's canonical bytes as AAD."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kms = ContextBlindKms()
    nonce = bytes(range(100, 112))
    aad = (
        b"oauth-broker/encryption-context/v1"
        b"\0\0\0\x06tenant\0\0\0\x04acme"
        b"\0\0\0\x09record_id\0\0\0\x08con_0123"
        b"\0\0\0\x07purpose\0\0\0\x0drefresh_token"
    )
    ciphertext = AESGCM(kms.key).encrypt(nonce, SECRET, aad)
    blob = ".".join(
        ["v1", b64url_encode(b"same-encrypted-key"), b64url_encode(nonce), b64url_encode(ciphertext)]
    )

    assert Envelope(kms, "alias/any").decrypt(blob, CTX) == SECRET


# -- tampering --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("part", "position", "byte_index"),
    [
        ("encrypted data key", 1, 40),
        ("nonce", 2, 0),
        ("ciphertext", 3, 0),
        ("tag", 3, -1),
    ],
)
def test_given_a_blob_when_one_bit_of_a_part_is_flipped_then_decryption_fails(
    kms: Any, key_id: str, part: str, position: int, byte_index: int
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)
    tampered = replace_part(blob, position, flip_bit(blob.split(".")[position], byte_index))

    with pytest.raises(DecryptionError):
        envelope.decrypt(tampered, CTX)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda blob: "", id="empty"),
        pytest.param(lambda blob: blob.rsplit(".", 1)[0], id="missing-part"),
        pytest.param(lambda blob: blob + ".AAAA", id="extra-part"),
        pytest.param(lambda blob: replace_part(blob, 2, "!!!!"), id="not-base64url"),
        pytest.param(lambda blob: replace_part(blob, 2, blob.split(".")[2] + "=="), id="padded"),
        pytest.param(lambda blob: replace_part(blob, 2, b64url_encode(b"\0" * 11)), id="short-nonce"),
        pytest.param(lambda blob: replace_part(blob, 3, b64url_encode(b"\0" * 15)), id="shorter-than-tag"),
        pytest.param(lambda blob: replace_part(blob, 1, ""), id="empty-key"),
        pytest.param(lambda blob: blob.replace(".", "é", 1), id="not-ascii"),
    ],
)
def test_given_a_malformed_blob_when_decrypted_then_a_decryption_error_is_raised(
    kms: Any, key_id: str, mangle: Any
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)

    with pytest.raises(DecryptionError, match=r"malformed|version"):
        envelope.decrypt(mangle(blob), CTX)


def test_given_a_blob_with_an_unknown_version_when_decrypted_then_a_decryption_error_names_the_version(
    kms: Any, key_id: str
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)

    with pytest.raises(DecryptionError, match="version"):
        envelope.decrypt("v2" + blob[2:], CTX)


# -- context and key binding ------------------------------------------------------------------
@pytest.mark.parametrize(
    "other",
    [
        EncryptionContext(tenant="globex", record_id=CTX.record_id, purpose=CTX.purpose),
        EncryptionContext(tenant=CTX.tenant, record_id="con_9999", purpose=CTX.purpose),
        EncryptionContext(tenant=CTX.tenant, record_id=CTX.record_id, purpose="access_token"),
    ],
    ids=["tenant", "record_id", "purpose"],
)
def test_given_a_blob_when_decrypted_with_a_context_differing_in_one_field_then_decryption_fails(
    kms: Any, key_id: str, other: EncryptionContext
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)

    with pytest.raises(DecryptionError):
        envelope.decrypt(blob, other)


class ContextBlindKms:
    """A KMS stand-in that hands out one data key whatever the context: only AES-GCM's AAD remains."""

    def __init__(self) -> None:
        self.key = bytes(range(32))

    def generate_data_key(self, **_: Any) -> dict[str, Any]:
        return {"Plaintext": self.key, "CiphertextBlob": b"same-encrypted-key"}

    def decrypt(self, **_: Any) -> dict[str, Any]:
        return {"Plaintext": self.key}


@pytest.mark.parametrize("field", ["tenant", "record_id", "purpose"])
def test_given_the_data_key_is_available_when_a_blob_is_moved_to_another_record_then_the_aad_rejects_it(
    field: str,
) -> None:
    envelope = Envelope(ContextBlindKms(), "alias/any")
    blob = envelope.encrypt(SECRET, CTX)
    changed = {"tenant": "globex", "record_id": "con_9999", "purpose": "access_token"}[field]
    other = EncryptionContext(**{**CTX.as_kms(), field: changed})

    with pytest.raises(DecryptionError, match="authentication"):
        envelope.decrypt(blob, other)


def test_given_a_blob_under_one_kms_key_when_an_envelope_bound_to_another_key_decrypts_it_then_it_fails(
    kms: Any, key_id: str, other_key_id: str
) -> None:
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)

    with pytest.raises(DecryptionError):
        Envelope(kms, other_key_id).decrypt(blob, CTX)


# -- what is sent to KMS -----------------------------------------------------------------------
def test_given_an_encryption_when_kms_is_asked_for_a_data_key_then_the_request_carries_key_spec_and_context(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    Envelope(kms, key_id).encrypt(SECRET, CTX)

    [call] = recorder.of("GenerateDataKey")
    assert call.params["KeyId"] == key_id
    assert call.params["KeySpec"] == "AES_256"
    assert call.params["EncryptionContext"] == {
        "tenant": "acme",
        "record_id": "con_0123",
        "purpose": "refresh_token",
    }


def test_given_a_decryption_when_kms_decrypts_the_data_key_then_the_request_carries_key_id_and_context(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)

    envelope.decrypt(blob, CTX)

    [call] = recorder.of("Decrypt")
    assert call.params["KeyId"] == key_id
    assert call.params["EncryptionContext"] == CTX.as_kms()


# -- nothing leaks -----------------------------------------------------------------------------
@pytest.mark.parametrize("failure", ["wrong-context", "tampered-tag", "tampered-key"])
def test_given_a_failed_decryption_then_the_error_chain_holds_neither_the_plaintext_nor_the_data_key(
    kms: Any, key_id: str, recorder: KmsRecorder, failure: str
) -> None:
    envelope = Envelope(kms, key_id)
    blob = envelope.encrypt(SECRET, CTX)
    ctx = CTX
    if failure == "wrong-context":
        ctx = EncryptionContext(tenant="globex", record_id=CTX.record_id, purpose=CTX.purpose)
    elif failure == "tampered-tag":
        blob = replace_part(blob, 3, flip_bit(blob.split(".")[3], -1))
    else:
        blob = replace_part(blob, 1, flip_bit(blob.split(".")[1], 40))

    with pytest.raises(DecryptionError) as caught:
        envelope.decrypt(blob, ctx)

    text = exception_text(caught.value)
    assert recorder.data_keys
    for secret in (SECRET, *recorder.data_keys):
        for form in leak_forms(secret):
            assert form not in text


def test_given_an_envelope_then_its_repr_shows_no_key_material(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    from oauth_broker.crypto.envelope import DataKeyCache

    envelope = Envelope(kms, key_id, cache=DataKeyCache())
    envelope.encrypt(SECRET, CTX)

    text = repr(envelope) + repr(envelope.cache)
    [data_key] = recorder.data_keys
    for form in leak_forms(data_key):
        assert form not in text


# -- KMS faults --------------------------------------------------------------------------------
class FailingKms:
    def __init__(self, code: str) -> None:
        self.code = code

    def _fail(self, operation: str) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": self.code, "Message": "nope"}}, operation)

    def generate_data_key(self, **_: Any) -> dict[str, Any]:
        self._fail("GenerateDataKey")
        raise AssertionError

    def decrypt(self, **_: Any) -> dict[str, Any]:
        self._fail("Decrypt")
        raise AssertionError


def valid_blob() -> str:
    return Envelope(ContextBlindKms(), "alias/any").encrypt(SECRET, CTX)


@pytest.mark.parametrize("code", ["ThrottlingException", "KMSInternalException", "DisabledException"])
def test_given_kms_is_unavailable_when_decrypting_then_a_key_service_error_is_raised_not_a_decryption_error(
    code: str,
) -> None:
    with pytest.raises(KeyServiceError, match=code) as caught:
        Envelope(FailingKms(code), "alias/any").decrypt(valid_blob(), CTX)

    assert not isinstance(caught.value, DecryptionError)


@pytest.mark.parametrize(
    "code", ["InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"]
)
def test_given_kms_refuses_the_data_key_when_decrypting_then_a_decryption_error_is_raised(code: str) -> None:
    with pytest.raises(DecryptionError, match=code):
        Envelope(FailingKms(code), "alias/any").decrypt(valid_blob(), CTX)


def test_given_kms_fails_when_generating_a_data_key_then_a_key_service_error_is_raised() -> None:
    with pytest.raises(KeyServiceError, match="ThrottlingException"):
        Envelope(FailingKms("ThrottlingException"), "alias/any").encrypt(SECRET, CTX)


def test_given_any_crypto_failure_then_it_is_a_crypto_error() -> None:
    assert issubclass(DecryptionError, CryptoError)
    assert issubclass(KeyServiceError, CryptoError)


# -- construction and import cost --------------------------------------------------------------
def test_given_no_kms_client_when_an_envelope_is_created_then_it_makes_its_own(mocked_aws: None) -> None:
    import boto3

    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    envelope = Envelope(key_id=key_id)

    assert envelope.decrypt(envelope.encrypt(SECRET, CTX), CTX) == SECRET


def test_given_no_key_id_when_an_envelope_is_created_then_it_is_refused(kms: Any) -> None:
    with pytest.raises(ValueError, match="key"):
        Envelope(kms, "")


def test_given_text_instead_of_bytes_when_encrypting_then_it_is_refused(kms: Any, key_id: str) -> None:
    with pytest.raises(TypeError):
        Envelope(kms, key_id).encrypt("not bytes", CTX)  # type: ignore[arg-type]


@pytest.mark.parametrize("module", ["oauth_broker.crypto.envelope", "oauth_broker.crypto.state_box"])
def test_given_a_fresh_interpreter_when_the_crypto_module_is_imported_then_neither_boto3_nor_cryptography_is(
    module: str,
) -> None:
    heavy = ("boto3", "botocore", "cryptography")
    code = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True, check=True
    )

    assert out.stdout.strip() == "[]"


# -- each guard by its own message (no KMS reached unless the test says so) ----------------------
class UnreachableKms:
    """A KMS stand-in for guards that must refuse before any KMS call."""

    def generate_data_key(self, **_: Any) -> dict[str, Any]:
        raise AssertionError("KMS reached")

    def decrypt(self, **_: Any) -> dict[str, Any]:
        raise AssertionError("KMS reached")


def blob_of(nonce: bytes = b"n" * 12, ciphertext: bytes = b"c" * 16) -> str:
    return ".".join(
        ("v1", b64url_encode(b"encrypted-data-key"), b64url_encode(nonce), b64url_encode(ciphertext))
    )


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"v1.a.b.c", "malformed blob: expected a string"),
        ("v1.é.b.c", "malformed blob: not ASCII"),
        ("v2.a.b.c", "unsupported blob version (expected v1)"),
        ("v1.a.b", "malformed blob: expected 4 dot-separated parts"),
        ("v1.a.b.c.d", "malformed blob: expected 4 dot-separated parts"),
        ("v1.QR.bm9uY2U.Y2lwaGVy", "malformed blob: a part is not canonical base64url"),
        (blob_of(nonce=b"n" * 11), "malformed blob: nonce must be 12 bytes"),
        (blob_of(ciphertext=b"c" * 15), "malformed blob: ciphertext shorter than the authentication tag"),
    ],
)
def test_given_a_blob_that_one_guard_refuses_when_decrypted_then_the_message_is_that_guards_own(
    blob: Any, message: str
) -> None:
    with pytest.raises(DecryptionError) as caught:
        Envelope(UnreachableKms(), "alias/any").decrypt(blob, CTX)

    assert str(caught.value) == message


def test_given_a_ciphertext_exactly_one_tag_long_when_decrypted_then_it_is_not_refused_as_short() -> None:
    with pytest.raises(AssertionError, match="KMS reached"):
        Envelope(UnreachableKms(), "alias/any").decrypt(blob_of(ciphertext=b"c" * 16), CTX)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("", "empty part"),
        ("ab!c", "not base64url"),
        ("ab!cd", "not base64url"),  # a stray character is refused, not skipped
        ("QR", "not canonical base64url"),
        ("QQ==", "not canonical base64url"),
    ],
)
def test_given_a_part_that_is_not_canonical_base64url_when_decoded_then_the_reason_is_named(
    part: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        envelope_module._unb64url(part)

    assert str(caught.value) == message


def test_given_no_encryption_context_when_decrypting_then_it_is_refused_by_name() -> None:
    with pytest.raises(TypeError) as caught:
        Envelope(UnreachableKms(), "alias/any").decrypt(valid_blob(), None)  # type: ignore[arg-type]

    assert str(caught.value) == "Envelope.decrypt needs an EncryptionContext"


def test_given_a_blob_for_another_context_when_decrypted_then_the_authentication_failure_is_named() -> None:
    envelope = Envelope(ContextBlindKms(), "alias/any")
    blob = envelope.encrypt(SECRET, CTX)

    with pytest.raises(DecryptionError) as caught:
        envelope.decrypt(blob, EncryptionContext("acme", "con_other", "refresh_token"))

    assert str(caught.value) == "ciphertext failed authentication: tampered blob or wrong encryption context"


class ShortKeyKms(ContextBlindKms):
    def decrypt(self, **_: Any) -> dict[str, Any]:
        return {"Plaintext": b"short"}


def test_given_kms_decrypt_returns_a_short_key_when_decrypting_then_the_decrypt_operation_is_named() -> None:
    envelope = Envelope(ShortKeyKms(), "alias/any")

    with pytest.raises(KeyServiceError) as caught:
        envelope.decrypt(envelope.encrypt(SECRET, CTX), CTX)

    assert str(caught.value) == "KMS Decrypt did not return a 32-byte data key"


class AnsweringKms:
    """A KMS stand-in that answers GenerateDataKey and Decrypt with the given responses."""

    def __init__(self, generated: dict[str, Any], decrypted: dict[str, Any] | None = None) -> None:
        self.generated, self.decrypted = generated, decrypted or {}

    def generate_data_key(self, **_: Any) -> dict[str, Any]:
        return self.generated

    def decrypt(self, **_: Any) -> dict[str, Any]:
        return self.decrypted


@pytest.mark.parametrize(
    ("generated", "message"),
    [
        (
            {"Plaintext": b"short", "CiphertextBlob": b"edk"},
            "KMS GenerateDataKey did not return a 32-byte data key",
        ),
        (
            {"Plaintext": "k" * 32, "CiphertextBlob": b"edk"},
            "KMS GenerateDataKey did not return a 32-byte data key",
        ),
        (
            {"Plaintext": b"k" * 32, "CiphertextBlob": b""},
            "KMS GenerateDataKey returned no encrypted data key",
        ),
        ({"Plaintext": b"k" * 32}, "KMS GenerateDataKey returned no encrypted data key"),
    ],
)
def test_given_kms_generates_an_unusable_data_key_when_encrypting_then_the_message_names_the_fault(
    generated: dict[str, Any], message: str
) -> None:
    with pytest.raises(KeyServiceError) as caught:
        Envelope(AnsweringKms(generated), "alias/any").encrypt(SECRET, CTX)

    assert str(caught.value) == message


def test_given_kms_decrypt_returns_text_instead_of_a_key_when_decrypting_then_it_is_refused() -> None:
    kms = AnsweringKms({"Plaintext": b"k" * 32, "CiphertextBlob": b"edk"}, {"Plaintext": "k" * 32})
    envelope = Envelope(kms, "alias/any")

    with pytest.raises(KeyServiceError) as caught:
        envelope.decrypt(envelope.encrypt(SECRET, CTX), CTX)

    assert str(caught.value) == "KMS Decrypt did not return a 32-byte data key"


@pytest.mark.parametrize(
    ("plaintext", "ctx", "message"),
    [
        ("text", CTX, "Envelope.encrypt takes bytes; encode text first"),
        (SECRET, None, "Envelope.encrypt needs an EncryptionContext"),
    ],
)
def test_given_a_wrong_argument_when_encrypting_then_it_is_refused_by_name(
    plaintext: Any, ctx: Any, message: str
) -> None:
    with pytest.raises(TypeError) as caught:
        Envelope(UnreachableKms(), "alias/any").encrypt(plaintext, ctx)

    assert str(caught.value) == message


def test_given_kms_denies_generating_a_data_key_when_encrypting_then_it_is_a_key_service_error_by_name() -> (
    None
):
    with pytest.raises(KeyServiceError) as caught:
        Envelope(FailingKms("AccessDeniedException"), "alias/any").encrypt(SECRET, CTX)

    assert not isinstance(caught.value, DecryptionError)
    assert str(caught.value) == "KMS could not generate a data key (AccessDeniedException)"


def test_given_kms_refuses_the_data_key_when_decrypting_then_the_message_names_code_and_causes() -> None:
    with pytest.raises(DecryptionError) as caught:
        Envelope(FailingKms("InvalidCiphertextException"), "alias/any").decrypt(valid_blob(), CTX)

    assert str(caught.value) == (
        "KMS refused to decrypt the data key (InvalidCiphertextException): "
        "tampered data key, wrong encryption context or wrong KMS key"
    )


def test_given_a_kms_error_without_a_code_when_encrypting_then_it_is_an_unknown_error() -> None:
    with pytest.raises(KeyServiceError) as caught:
        Envelope(FailingKms(""), "alias/any").encrypt(SECRET, CTX)

    assert str(caught.value) == "KMS could not generate a data key (unknown error)"


def test_given_bytes_whose_base64url_ends_in_x_when_encoded_then_only_padding_is_dropped() -> None:
    assert envelope_module._b64url(b"\x00\x00\x17") == "AAAX"
    assert envelope_module._b64url(b"\x00") == "AA"
