"""EncryptionContext: what a secret is bound to, for KMS and as AES-GCM associated data."""

from __future__ import annotations

import pytest

from oauth_broker.crypto.envelope import PURPOSES, EncryptionContext


def test_given_a_context_then_its_kms_form_has_exactly_tenant_record_id_and_purpose() -> None:
    ctx = EncryptionContext(tenant="acme", record_id="con_1", purpose="access_token")

    assert ctx.as_kms() == {"tenant": "acme", "record_id": "con_1", "purpose": "access_token"}


def test_given_the_documented_purposes_then_each_is_accepted() -> None:
    assert {"client_secret", "webhook_secret", "refresh_token", "access_token"} == PURPOSES
    for purpose in PURPOSES:
        assert EncryptionContext("acme", "con_1", purpose).purpose == purpose


@pytest.mark.parametrize("purpose", ["id_token", "Refresh_Token", ""])
def test_given_an_unknown_purpose_when_a_context_is_created_then_it_is_refused(purpose: str) -> None:
    with pytest.raises(ValueError, match="purpose"):
        EncryptionContext(tenant="acme", record_id="con_1", purpose=purpose)


@pytest.mark.parametrize("field", ["tenant", "record_id"])
def test_given_an_empty_field_when_a_context_is_created_then_it_is_refused(field: str) -> None:
    values = {"tenant": "acme", "record_id": "con_1", "purpose": "refresh_token", field: ""}

    with pytest.raises(ValueError, match=field):
        EncryptionContext(**values)


def test_given_equal_fields_then_contexts_have_the_same_canonical_bytes() -> None:
    first = EncryptionContext("acme", "con_1", "refresh_token")
    second = EncryptionContext("acme", "con_1", "refresh_token")

    assert first.canonical_bytes() == second.canonical_bytes()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a.b", "c"), ("a", "b.c")),
        (("a", "bc"), ("ab", "c")),
        (("a\x00", "b"), ("a", "\x00b")),
        (("x", "record_idy"), ("xrecord_id", "y")),
    ],
)
def test_given_contexts_that_naive_concatenation_would_confuse_then_their_canonical_bytes_differ(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    one = EncryptionContext(*first, purpose="refresh_token")
    two = EncryptionContext(*second, purpose="refresh_token")

    assert one.canonical_bytes() != two.canonical_bytes()


@pytest.mark.parametrize("field", ["tenant", "record_id", "purpose"])
def test_given_contexts_differing_in_one_field_then_their_canonical_bytes_differ(field: str) -> None:
    base = {"tenant": "acme", "record_id": "con_1", "purpose": "refresh_token"}
    changed = {**base, field: {"tenant": "globex", "record_id": "con_2", "purpose": "access_token"}[field]}

    assert EncryptionContext(**base).canonical_bytes() != EncryptionContext(**changed).canonical_bytes()


def test_given_a_context_then_it_is_immutable() -> None:
    ctx = EncryptionContext("acme", "con_1", "refresh_token")

    with pytest.raises(AttributeError):
        ctx.tenant = "globex"  # type: ignore[misc]


def test_given_a_field_that_is_not_valid_unicode_when_a_context_is_created_then_it_is_refused_by_name() -> (
    None
):
    with pytest.raises(ValueError) as caught:
        EncryptionContext(tenant="acme\ud800", record_id="con_1", purpose="refresh_token")

    assert str(caught.value) == "EncryptionContext.tenant is not valid Unicode"


def test_given_an_unknown_purpose_when_a_context_is_created_then_the_message_lists_the_purposes() -> None:
    with pytest.raises(ValueError) as caught:
        EncryptionContext(tenant="acme", record_id="con_1", purpose="id_token")

    assert str(caught.value) == (
        "EncryptionContext.purpose must be one of access_token, client_secret, refresh_token, "
        "webhook_secret; got 'id_token'"
    )
