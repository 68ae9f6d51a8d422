"""state_box: an OAuth state's secrets sealed under a key derived from the state itself (no KMS)."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from oauth_broker.crypto.envelope import DecryptionError
from oauth_broker.crypto.state_box import MIN_STATE_LENGTH, open_, seal, state_hash

PAYLOAD = b'{"code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","nonce":"n-0S6_WzA2Mj"}'


def new_state() -> str:
    return secrets.token_urlsafe(32)


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def flip_bit(blob: str, position: int, index: int) -> str:
    parts = blob.split(".")
    raw = bytearray(b64url_decode(parts[position]))
    raw[index] ^= 0x01
    parts[position] = b64url_encode(bytes(raw))
    return ".".join(parts)


def test_given_a_sealed_payload_when_opened_with_the_same_state_then_the_payload_is_returned() -> None:
    state = new_state()

    assert open_(state, seal(state, PAYLOAD)) == PAYLOAD


def test_given_a_sealed_payload_when_opened_with_another_state_then_decryption_fails() -> None:
    blob = seal(new_state(), PAYLOAD)

    with pytest.raises(DecryptionError):
        open_(new_state(), blob)


@pytest.mark.parametrize(("position", "index"), [(1, 0), (2, 0), (2, -1)], ids=["nonce", "ciphertext", "tag"])
def test_given_a_sealed_payload_when_one_bit_is_flipped_then_decryption_fails(
    position: int, index: int
) -> None:
    state = new_state()
    blob = seal(state, PAYLOAD)

    with pytest.raises(DecryptionError):
        open_(state, flip_bit(blob, position, index))


@pytest.mark.parametrize(
    "blob",
    ["", "s1", "s1.AAAA", "s2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", "s1.!!!!.AAAA", "s1.AAAA.AAAA.AAAA"],
    ids=["empty", "version-only", "one-part", "unknown-version", "not-base64url", "extra-part"],
)
def test_given_a_malformed_box_when_opened_then_decryption_fails(blob: str) -> None:
    with pytest.raises(DecryptionError):
        open_(new_state(), blob)


def test_given_a_box_then_it_opens_with_the_documented_hkdf_key_and_version_as_associated_data() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    state = new_state()
    version, nonce, ciphertext = seal(state, PAYLOAD).split(".")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"oauth-broker/oauth-state/v1").derive(
        state.encode()
    )

    assert version == "s1"
    assert AESGCM(key).decrypt(b64url_decode(nonce), b64url_decode(ciphertext), b"s1") == PAYLOAD


def test_given_the_same_payload_sealed_twice_then_each_box_has_a_fresh_nonce() -> None:
    state = new_state()

    first, second = seal(state, PAYLOAD), seal(state, PAYLOAD)

    assert first.split(".")[1] != second.split(".")[1]


def test_given_a_sealed_payload_then_the_box_contains_neither_the_state_nor_the_payload() -> None:
    state = new_state()

    blob = seal(state, PAYLOAD)

    assert state not in blob
    assert b"dBjftJeZ4CVP" not in blob.encode()
    assert b64url_encode(PAYLOAD)[:24] not in blob


def test_given_a_wrong_state_when_opening_fails_then_the_error_holds_neither_state_nor_payload() -> None:
    state, wrong = new_state(), new_state()
    blob = seal(state, PAYLOAD)

    with pytest.raises(DecryptionError) as caught:
        open_(wrong, blob)

    text = str(caught.value) + repr(caught.value)
    for secret in (state, wrong, "dBjftJeZ4CVP"):
        assert secret not in text


def test_given_a_short_state_when_sealing_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="state"):
        seal("x" * (MIN_STATE_LENGTH - 1), PAYLOAD)


def test_given_a_state_then_its_hash_is_the_sha256_hex_of_its_utf8_bytes() -> None:
    state = new_state()

    assert state_hash(state) == hashlib.sha256(state.encode()).hexdigest()
    assert state_hash(state) != state_hash(new_state())


# -- each guard by its own message ------------------------------------------------------------


def box_of(nonce: bytes = b"n" * 12, ciphertext: bytes = b"c" * 16) -> str:
    return ".".join(("s1", b64url_encode(nonce), b64url_encode(ciphertext)))


@pytest.mark.parametrize(
    ("state", "blob", "message"),
    [
        ("", box_of(), "cannot open the state box: no state value"),
        (None, box_of(), "cannot open the state box: no state value"),
        ("s" * 43, b"s1.a.b", "malformed state box"),
        ("s" * 43, "s1.é.b", "malformed state box"),
        ("s" * 43, "s2.a.b", "unsupported state box version (expected s1)"),
        ("s" * 43, "s1.a.b.c", "malformed state box: expected 3 dot-separated parts"),
        ("s" * 43, "s1.QR.Y2lwaGVy", "malformed state box: a part is not canonical base64url"),
        ("s" * 43, box_of(nonce=b"n" * 11), "malformed state box: nonce must be 12 bytes"),
        (
            "s" * 43,
            box_of(ciphertext=b"c" * 15),
            "malformed state box: ciphertext shorter than the authentication tag",
        ),
        (
            "s" * 43,
            box_of(ciphertext=b"c" * 16),
            "state box failed authentication: wrong state or tampered blob",
        ),
    ],
)
def test_given_a_box_that_one_guard_refuses_when_opened_then_the_message_is_that_guards_own(
    state: str, blob: str, message: str
) -> None:
    with pytest.raises(DecryptionError) as caught:
        open_(state, blob)

    assert str(caught.value) == message


def test_given_a_state_of_exactly_the_minimum_length_when_sealing_then_it_is_accepted() -> None:
    state = "s" * MIN_STATE_LENGTH

    assert open_(state, seal(state, PAYLOAD)) == PAYLOAD


def test_given_a_payload_that_is_not_bytes_when_sealing_then_it_is_refused_by_name() -> None:
    with pytest.raises(TypeError) as caught:
        seal(new_state(), PAYLOAD.decode())  # type: ignore[arg-type]

    assert str(caught.value) == "seal takes bytes; encode the payload first"


def test_given_a_state_with_a_lone_surrogate_then_it_hashes_and_seals_as_its_surrogatepass_utf8_bytes() -> (
    None
):
    state = "\ud800" + "s" * 42
    raw = state.encode("utf-8", "surrogatepass")

    assert state_hash(state) == hashlib.sha256(raw).hexdigest()
    assert open_(state, seal(state, PAYLOAD)) == PAYLOAD
