"""An API-key caller re-checked against the store on an admin write, past the authorizer's cache."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_broker.auth.api_key_recheck import recheck_api_key
from oauth_broker.auth.principal import Principal
from oauth_broker.errors import ApiKeyRevoked
from oauth_broker.store.models import ApiKeyRecord

KEY = "obk_" + "k" * 43


class FakeKeys:
    """`ApiKeyStore.lookup` over a dict of presented key -> record; counts the lookups."""

    def __init__(self, records: dict[str, ApiKeyRecord] | None = None):
        self.records = records or {}
        self.lookups: list[str] = []

    def lookup(self, key: str) -> ApiKeyRecord | None:
        self.lookups.append(key)
        return self.records.get(key)


def record(key_id: str = "key_1", tenant: str = "acme") -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id,
        tenant=tenant,
        name="backend",
        key_hash="h",
        key_hint="obk_…kkkk",
        created_at="2026-01-01T00:00:00Z",
        created_by="alice",
    )


def key_principal(key_id: str = "key_1", tenant: str = "acme") -> Principal:
    return Principal(tenant, f"apikey:{key_id}", True, "api_key", key_id)


def test_given_a_live_key_when_rechecked_then_it_passes_after_one_store_lookup():
    keys = FakeKeys({KEY: record()})

    recheck_api_key(key_principal(), f"Bearer {KEY}", keys)  # type: ignore[arg-type]

    assert keys.lookups == [KEY]


def test_given_a_jwt_caller_when_rechecked_then_the_store_is_not_read():
    keys = FakeKeys()

    recheck_api_key(Principal("acme", "alice", True, "jwt"), "Bearer eyJ.x.y", keys)  # type: ignore[arg-type]

    assert keys.lookups == []


@pytest.mark.parametrize(
    ("records", "principal", "authorization"),
    [
        ({}, key_principal(), f"Bearer {KEY}"),  # deleted since the authorizer decided
        ({KEY: record("key_2")}, key_principal("key_1"), f"Bearer {KEY}"),  # another key's record
        ({KEY: record(tenant="globex")}, key_principal(), f"Bearer {KEY}"),  # another tenant's
        ({KEY: record()}, key_principal(), None),  # no credential to re-check
        ({KEY: record()}, key_principal(), f"Basic {KEY}"),  # not a bearer credential
    ],
)
def test_given_a_key_the_store_no_longer_vouches_for_when_rechecked_then_it_is_api_key_revoked(
    records: dict[str, Any], principal: Principal, authorization: str | None
):
    with pytest.raises(ApiKeyRevoked) as caught:
        recheck_api_key(principal, authorization, FakeKeys(records))  # type: ignore[arg-type]

    assert caught.value.status == 403 and caught.value.code == "api_key_revoked"
    assert KEY not in caught.value.detail
