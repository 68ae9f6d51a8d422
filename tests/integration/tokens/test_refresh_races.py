"""Refreshes racing across simulated Lambda containers (separate TokenRefresher instances: separate
caches and locks; only DynamoDB is shared), dead lease holders and crashes mid-refresh."""

from __future__ import annotations

import threading
import time

import pytest

from brokertest.tokens import FakeClock
from oauth_broker.errors import NeedsReauth
from oauth_broker.store.connections import ConnectionStore
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.tokens.lease import LeaseStore

CONTAINERS = 5
CALLERS_PER_CONTAINER = 10


def run_together(fns):
    """Starts every fn at the same instant; returns (results, errors) in order."""
    barrier = threading.Barrier(len(fns))
    results, errors = [None] * len(fns), [None] * len(fns)

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.mark.parametrize("force", [False, True], ids=["expired", "forced-after-401"])
def test_given_50_callers_in_5_containers_when_the_token_is_stale_then_exactly_one_refresh_happens(tw, force):
    rec, tokens = tw.seed(expires_in=0 if not force else 3600)
    containers = [tw.refresher() for _ in range(CONTAINERS)]
    fns = [
        (lambda r=r: r.get_fresh_token(rec, force=force, deadline=time.monotonic() + 20))
        for r in containers
        for _ in range(CALLERS_PER_CONTAINER)
    ]

    started = time.monotonic()
    results, errors = run_together(fns)
    elapsed = time.monotonic() - started

    assert errors == [None] * len(fns)
    assert tw.token_requests() == 1
    assert len({r.token for r in results}) == 1 and results[0].token != tokens["access_token"]
    stored = tw.stored(rec.id)
    assert stored.version == rec.version + 1
    assert tw.decrypt(stored, "access_token") == results[0].token
    assert elapsed < 15


def test_given_a_lease_holder_that_died_when_another_caller_needs_the_token_then_it_takes_over_after_expiry(
    tw,
):
    rec, _ = tw.seed(expires_in=0)
    clock = FakeClock(start=time.time())

    class Crash(BaseException):
        """The Lambda container is killed: nothing after this line runs, no cleanup."""

    class DyingEndpoint:
        def refresh(self, *args, **kwargs):
            raise Crash()

    dead = tw.refresher(clock=clock, endpoint=DyingEndpoint(), lease_seconds=10)
    with pytest.raises(Crash):
        dead.get_fresh_token(rec, deadline=clock.monotonic() + 30)
    # simulate that the crash skipped the release (finally blocks do not run in a killed process)
    LeaseStore(tw.services.table, clock=clock).acquire(rec.id, "lease_dead_holder", 10)

    survivor = tw.refresher(clock=clock, lease_seconds=10)
    before = clock.time()
    token = survivor.get_fresh_token(rec, deadline=clock.monotonic() + 30)

    assert clock.time() - before >= 10  # it waited for the dead holder's lease to expire
    assert clock.time() - before < 12  # ... and not much longer
    assert tw.token_requests() == 1 and tw.stored(rec.id).version == rec.version + 1
    assert tw.decrypt(tw.stored(rec.id), "access_token") == token.token


def test_given_a_live_lease_holder_when_the_waiter_deadline_comes_first_then_it_gives_up_without_refreshing(
    tw,
):
    rec, _ = tw.seed(expires_in=0)
    clock = FakeClock(start=time.time())
    LeaseStore(tw.services.table, clock=clock).acquire(rec.id, "lease_busy_holder", 10)

    from oauth_broker.errors import UpstreamError

    with pytest.raises(UpstreamError) as caught:
        tw.refresher(clock=clock).get_fresh_token(rec, deadline=clock.monotonic() + 2)

    assert caught.value.headers.get("Retry-After") == "1"
    assert tw.token_requests() == 0 and tw.stored(rec.id).version == rec.version


class CrashOnSave(ConnectionStore):
    """The process dies after the provider answered and before the answer is written."""

    class Crash(BaseException):
        pass

    def __init__(self, inner: ConnectionStore):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead)

    def save(self, rec, *, expected_version, **kwargs):
        raise CrashOnSave.Crash()


class ThrottledOnce(ConnectionStore):
    """The first write is throttled by DynamoDB (after boto3's own retries)."""

    def __init__(self, inner: ConnectionStore):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead)
        self.failures = 1

    def save(self, rec, *, expected_version, **kwargs):
        if self.failures:
            from botocore.exceptions import ClientError

            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "PutItem",
            )
        return super().save(rec, expected_version=expected_version, **kwargs)


def test_given_a_crash_between_the_token_response_and_the_write_then_the_stored_grant_is_intact_and_works(tw):
    rec, tokens = tw.seed(expires_in=0)
    crashing = tw.refresher(connections=CrashOnSave(tw.services.connections))

    with pytest.raises(CrashOnSave.Crash):
        crashing.get_fresh_token(rec)

    stored = tw.stored(rec.id)
    assert stored.version == rec.version and stored.enc_refresh_token == rec.enc_refresh_token
    assert stored.enc_access_token == rec.enc_access_token
    # Google does not rotate: the refresh token still stored keeps working for the next caller
    token = tw.refresher().get_fresh_token(stored)
    assert token.token != tokens["access_token"] and tw.token_requests() == 2
    assert tw.stored(rec.id).status == ConnectionStatus.ACTIVE


def test_given_a_rotating_provider_when_the_first_write_is_throttled_then_the_rotated_token_is_still_stored(
    rotating_tw,
):
    tw = rotating_tw
    rec, tokens = tw.seed(expires_in=0)
    clock = FakeClock(start=time.time())

    token = tw.refresher(clock=clock, connections=ThrottledOnce(tw.services.connections)).get_fresh_token(
        rec, deadline=clock.monotonic() + 10
    )

    stored = tw.stored(rec.id)
    rotated = tw.decrypt(stored, "refresh_token")
    assert rotated != tokens["refresh_token"] and tw.fake.token_info(rotated)["active"]
    assert tw.decrypt(stored, "access_token") == token.token
    # the connection lives on: the next refresh uses the stored, rotated token
    tw.refresher().get_fresh_token(stored, force=True)
    assert tw.token_requests() == 2 and tw.stored(rec.id).status == ConnectionStatus.ACTIVE


def test_given_a_rotating_provider_when_the_process_dies_before_the_write_then_the_loss_is_not_silent(
    rotating_tw,
):
    """No broker can keep a rotated refresh token that was never written (the old one is dead at a
    provider without a grace period): the connection is then marked needs_reauth with an event,
    instead of failing silently forever."""
    tw = rotating_tw
    rec, _ = tw.seed(expires_in=0)

    with pytest.raises(CrashOnSave.Crash):
        tw.refresher(connections=CrashOnSave(tw.services.connections)).get_fresh_token(rec)

    stored = tw.stored(rec.id)
    assert stored.enc_refresh_token == rec.enc_refresh_token  # the old one is still what is stored
    with pytest.raises(NeedsReauth):
        tw.refresher().get_fresh_token(stored)
    assert tw.stored(rec.id).status == ConnectionStatus.NEEDS_REAUTH
    assert len(tw.events_of("connection.needs_reauth")) == 1
