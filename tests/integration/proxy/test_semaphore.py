"""The DynamoDB semaphore of slot leases behind a connection's concurrency level."""

from __future__ import annotations

import pytest

from brokertest.tokens import FakeClock
from oauth_broker.errors import RateLimited
from oauth_broker.proxy.semaphore import ConcurrencySemaphore
from oauth_broker.store.table import Table


@pytest.fixture
def table(aws) -> Table:
    return Table(aws.resources.table_name, aws.dynamodb)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def semaphore(table: Table, clock: FakeClock) -> ConcurrencySemaphore:
    return ConcurrencySemaphore(table, clock=clock, shuffle=lambda slots: None)


def test_given_a_level_of_three_when_three_callers_acquire_then_each_holds_its_own_slot(table, clock):
    sem = semaphore(table, clock)

    leases = [sem.acquire("con_a", 3, lease_seconds=30) for _ in range(3)]

    assert sorted(lease.slot for lease in leases) == [0, 1, 2]
    assert len({lease.holder for lease in leases}) == 3
    item = table.get("SEM#con_a", "SLOT#0")
    assert item is not None and item["ttl"] > clock.time()


def test_given_every_slot_taken_when_one_more_acquires_then_it_is_rate_limited_with_retry_after(table, clock):
    sem = semaphore(table, clock)
    for _ in range(2):
        sem.acquire("con_a", 2, lease_seconds=30)

    with pytest.raises(RateLimited) as caught:
        sem.acquire("con_a", 2, lease_seconds=30)

    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert caught.value.headers["Retry-After"] == "1"


def test_given_a_released_slot_when_another_caller_acquires_then_it_gets_that_slot(table, clock):
    sem = semaphore(table, clock)
    first = sem.acquire("con_a", 1, lease_seconds=30)

    assert sem.release(first) is True
    second = sem.acquire("con_a", 1, lease_seconds=30)

    assert second.slot == 0 and second.holder != first.holder


def test_given_a_crashed_holder_when_its_lease_has_not_expired_then_its_slot_stays_taken(table, clock):
    sem = semaphore(table, clock)
    sem.acquire("con_a", 1, lease_seconds=30)  # the holder "crashes": never releases
    clock.advance(29)

    with pytest.raises(RateLimited):
        sem.acquire("con_a", 1, lease_seconds=30)


def test_given_a_crashed_holder_when_its_lease_expires_then_the_slot_is_taken_over(table, clock):
    sem = semaphore(table, clock)
    crashed = sem.acquire("con_a", 1, lease_seconds=30)
    clock.advance(31)

    taken = sem.acquire("con_a", 1, lease_seconds=30)

    assert taken.slot == crashed.slot and taken.holder != crashed.holder
    assert table.get("SEM#con_a", "SLOT#0")["holder"] == taken.holder


def test_given_a_taken_over_slot_when_the_late_holder_releases_then_the_new_holder_keeps_it(table, clock):
    sem = semaphore(table, clock)
    late = sem.acquire("con_a", 1, lease_seconds=30)
    clock.advance(31)
    current = sem.acquire("con_a", 1, lease_seconds=30)

    assert sem.release(late) is False

    assert table.get("SEM#con_a", "SLOT#0")["holder"] == current.holder


def test_given_two_connections_when_both_acquire_then_their_semaphores_are_independent(table, clock):
    sem = semaphore(table, clock)

    sem.acquire("con_a", 1, lease_seconds=30)
    other = sem.acquire("con_b", 1, lease_seconds=30)

    assert other.key == "SEM#con_b"


@pytest.mark.parametrize("level", [0, 26])
def test_given_a_level_outside_1_to_25_when_acquiring_then_it_is_refused(table, clock, level):
    with pytest.raises(ValueError):
        semaphore(table, clock).acquire("con_a", level, lease_seconds=30)
