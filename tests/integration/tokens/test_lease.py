"""The refresh lease: a conditional write that only one holder wins until it expires."""

from __future__ import annotations

import pytest

from brokertest.tokens import FakeClock
from oauth_broker.store.table import Table
from oauth_broker.tokens.lease import LeaseStore


@pytest.fixture
def leases(aws):
    clock = FakeClock()
    return LeaseStore(Table(aws.resources.table_name, aws.dynamodb), clock=clock), clock


def test_given_a_free_lease_when_two_holders_ask_then_only_the_first_gets_it(leases):
    store, _ = leases
    assert store.acquire("con_1", "a", 5) is not None
    assert store.acquire("con_1", "b", 5) is None
    assert store.current("con_1").holder == "a"


def test_given_a_held_lease_when_it_expires_then_another_holder_takes_it_over(leases):
    store, clock = leases
    store.acquire("con_1", "a", 5)
    clock.advance(4.9)
    assert store.acquire("con_1", "b", 5) is None
    clock.advance(0.2)
    assert store.acquire("con_1", "b", 5) is not None
    assert store.current("con_1").holder == "b"


def test_given_a_lease_taken_over_when_the_old_holder_renews_or_releases_then_it_cannot(leases):
    store, clock = leases
    store.acquire("con_1", "a", 5)
    clock.advance(6)
    store.acquire("con_1", "b", 5)
    assert store.renew("con_1", "a", 5) is False
    assert store.release("con_1", "a") is False
    assert store.current("con_1").holder == "b"


def test_given_a_held_lease_when_its_holder_renews_then_it_lasts_longer(leases):
    store, clock = leases
    store.acquire("con_1", "a", 5)
    clock.advance(4)
    assert store.renew("con_1", "a", 5) is True
    clock.advance(4)
    assert store.acquire("con_1", "b", 5) is None


def test_given_a_released_lease_when_another_holder_asks_then_it_gets_it_at_once(leases):
    store, _ = leases
    store.acquire("con_1", "a", 5)
    assert store.release("con_1", "a") is True
    assert store.acquire("con_1", "b", 5) is not None


def test_given_a_lease_when_stored_then_it_carries_a_ttl_for_dynamodb_to_clean_it_up(leases, aws):
    store, clock = leases
    store.acquire("con_1", "a", 5)
    item = store.table.get(*LeaseStore.key("con_1"))
    assert item["sk"] == "LEASE#REFRESH" and item["ttl"] >= clock.time() + 5
