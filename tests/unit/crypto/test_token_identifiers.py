"""The digests kept for a refresh token's identifiers (Google's `token-revoked` names one refresh
token by its 16-character `prefix` or by `hash_base64_sha512_sha512`): what is kept, never the
identifier itself, and the same digest from the event's identifier however its base64 is spelled.

The vectors were computed with openssl, independently of the code under test:
  printf '%s' "$T" | openssl dgst -sha512 -binary | openssl dgst -sha512 -binary | base64
  (| openssl dgst -sha256 for the digest), and printf '%s' "${T:0:16}" | openssl dgst -sha256."""

from __future__ import annotations

import pytest

from oauth_broker.crypto.token_identifiers import (
    HASH_SHA512_SHA512,
    PREFIX,
    google_hash_identifier,
    identifier_digest,
    token_digests,
)

TOKEN = "1//0gExampleRefreshToken-Value_for_RISC_vectors"
GOOGLE_HASH = "io+m0Iu3POC04pq8ZSyCmNc7q/hqHhnhsRCfdSZgQGbKuFm9TU7teZ3ciogHpjg+0wMP+Y2hBzmJIooxdu/p8A=="
PREFIX_DIGEST = "a0bb813181bdff7324d4cab1c5b28a3ba3bc07aaaae123ce2d9b9bfa038f774b"
HASH_DIGEST = "b8bc1063b4dc153e69ea3831be791ad8a7af887545385812953577ffde0bf068"


def test_given_a_refresh_token_when_digested_then_the_sha256_of_its_prefix_and_of_its_double_sha512():
    assert token_digests(TOKEN) == (PREFIX_DIGEST, HASH_DIGEST)


def test_given_a_refresh_token_then_its_google_hash_identifier_is_base64_of_sha512_of_sha512():
    assert google_hash_identifier(TOKEN) == GOOGLE_HASH


def test_given_a_refresh_token_when_digested_then_neither_digest_holds_its_prefix_or_any_16_characters():
    digests = token_digests(TOKEN)

    for digest in digests:
        assert TOKEN[:16] not in digest
        assert not any(TOKEN[i : i + 8] in digest for i in range(len(TOKEN) - 8))
        assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")


def test_given_the_events_prefix_identifier_then_its_digest_is_the_kept_prefix_digest():
    assert identifier_digest(PREFIX, TOKEN[:16]) == PREFIX_DIGEST


def test_given_the_whole_token_as_prefix_identifier_then_only_its_first_16_characters_count():
    assert identifier_digest(PREFIX, TOKEN) == PREFIX_DIGEST


@pytest.mark.parametrize(
    "spelling",
    [
        GOOGLE_HASH,
        GOOGLE_HASH.rstrip("="),
        GOOGLE_HASH.replace("+", "-").replace("/", "_"),
        GOOGLE_HASH.replace("+", "-").replace("/", "_").rstrip("="),
    ],
    ids=["standard padded", "standard unpadded", "url-safe padded", "url-safe unpadded"],
)
def test_given_the_events_hash_identifier_in_any_base64_spelling_then_its_digest_is_the_kept_one(spelling):
    assert identifier_digest(HASH_SHA512_SHA512, spelling) == HASH_DIGEST


def test_given_another_tokens_identifiers_then_their_digests_differ():
    other = "1//0gAnotherRefreshToken-Value_xyz"

    assert identifier_digest(PREFIX, other[:16]) not in token_digests(TOKEN)
    assert identifier_digest(HASH_SHA512_SHA512, google_hash_identifier(other)) not in token_digests(TOKEN)


@pytest.mark.parametrize(
    ("alg", "token"),
    [
        ("plain", TOKEN),  # an algorithm Google does not send
        (PREFIX, ""),
        (HASH_SHA512_SHA512, ""),
        (HASH_SHA512_SHA512, TOKEN),  # not base64 of 64 bytes
        (HASH_SHA512_SHA512, GOOGLE_HASH[:-4] + "===="),
        (HASH_SHA512_SHA512, GOOGLE_HASH[:40] + "!" + GOOGLE_HASH[41:]),
        (HASH_SHA512_SHA512, GOOGLE_HASH + "AAAA"),
    ],
    ids=["unknown alg", "empty prefix", "empty hash", "token as hash", "bad padding", "bad char", "too long"],
)
def test_given_an_identifier_that_names_no_token_then_there_is_no_digest(alg, token):
    assert identifier_digest(alg, token) is None
