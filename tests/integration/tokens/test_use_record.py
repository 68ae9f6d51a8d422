"""Recording use (`last_used_at`) beside the connection's version compare-and-set: one conditional
UpdateItem, no version bump; neither a lost update nor a spurious conflict when it races a save or
a refresh; an error in it never fails the call."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from brokertest.metrics import recorded_metrics
from brokertest.tokens import AwsCallCounter, FakeClock
from oauth_broker.store.connections import ConnectionStore
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import parse_rfc3339, rfc3339
from oauth_broker.tokens.refresher import RefreshOutcome

HOUR = 3600
DAY = 24 * HOUR
AHEAD = 300


def idle(tw, **seed: Any) -> ConnectionRecord:  # type: ignore[no-untyped-def]
    """A connection last used a week ago, refreshed an hour ago."""
    rec, _ = tw.seed(**seed)
    now = time.time()
    saved: ConnectionRecord = tw.services.connections.save(
        rec.model_copy(
            update={
                "created_at": rfc3339(now - 30 * DAY),
                "last_refreshed_at": rfc3339(now - HOUR),
                "last_used_at": int(now - 7 * DAY),
            }
        ),
        expected_version=rec.version,
    )
    return saved


def due_at(tw, connection_id: str) -> int | None:  # type: ignore[no-untyped-def]
    item = tw.services.connections.table.get(*tw.services.connections.key(connection_id))
    assert item is not None
    return int(item["due_at"]) if "due_at" in item else None


def test_given_an_idle_connection_when_a_use_is_recorded_then_one_update_moves_it_back_to_refresh_ahead(tw):
    rec = idle(tw)
    # its liveness refresh: a day after its last refresh (read back, not the clock now: a second may
    # have passed since it was written)
    assert rec.last_refreshed_at is not None
    assert due_at(tw, rec.id) == int(parse_rfc3339(rec.last_refreshed_at)) + DAY
    ddb = AwsCallCounter(tw.world.aws.dynamodb)
    now = int(time.time())

    written = tw.services.connections.record_use(rec, now)

    ddb.detach()
    assert written is True
    assert dict(ddb.calls) == {"UpdateItem": 1}
    stored = tw.stored(rec.id)
    assert stored.last_used_at == now and stored.version == rec.version  # no version bump
    assert due_at(tw, rec.id) == rec.expires_at - AHEAD


def test_given_a_use_recorded_within_the_hour_when_another_is_recorded_then_the_condition_refuses_it(tw):
    rec = idle(tw)
    now = int(time.time())
    assert tw.services.connections.record_use(rec, now)

    again = tw.services.connections.record_use(tw.stored(rec.id), now + HOUR - 1)
    later = tw.services.connections.record_use(tw.stored(rec.id), now + HOUR)

    assert again is False and later is True
    assert tw.stored(rec.id).last_used_at == now + HOUR


def test_given_a_use_recorded_between_a_read_and_a_save_then_the_save_keeps_it_and_does_not_conflict(tw):
    rec = idle(tw)  # read by an editor (a PATCH of the name, a refresh)
    now = int(time.time())
    assert tw.services.connections.record_use(rec, now)  # another container records a use

    saved = tw.services.connections.save(
        rec.model_copy(update={"name": "renamed"}), expected_version=rec.version
    )

    stored = tw.stored(rec.id)
    assert stored.name == "renamed" and stored.version == rec.version + 1 == saved.version
    assert stored.last_used_at == now  # not lost
    assert due_at(tw, rec.id) == rec.expires_at - AHEAD  # and still busy


def test_given_a_save_between_a_read_and_a_use_record_then_the_stale_use_record_is_refused(tw):
    rec = idle(tw)
    tw.services.connections.save(rec.model_copy(update={"name": "renamed"}), expected_version=rec.version)

    written = tw.services.connections.record_use(rec, int(time.time()))

    assert written is False  # its due time was computed from an older item
    stored = tw.stored(rec.id)
    assert stored.name == "renamed" and stored.last_used_at == rec.last_used_at


def test_given_a_concurrent_save_by_someone_else_then_the_use_record_does_not_hide_the_conflict(tw):
    rec = idle(tw)
    tw.services.connections.record_use(rec, int(time.time()))
    tw.services.connections.save(rec.model_copy(update={"name": "first"}), expected_version=rec.version)

    try:
        tw.services.connections.save(rec.model_copy(update={"name": "second"}), expected_version=rec.version)
    except Exception as exc:
        assert type(exc).__name__ == "ConditionFailed"
    else:
        raise AssertionError("a stale compare-and-set must still fail")
    assert tw.stored(rec.id).name == "first"


class UseBeforeSave(ConnectionStore):
    """Another container records a use just before the refresher stores its new tokens."""

    def __init__(self, inner: ConnectionStore, clock: FakeClock):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead, schedule=inner.schedule)
        self.clock = clock
        self.used_at: int | None = None

    def save(self, rec: ConnectionRecord, *, expected_version: int, **kwargs: Any) -> ConnectionRecord:
        if self.used_at is None:
            self.used_at = int(self.clock.time())
            stored = self.get(rec.id)
            assert stored is not None and self.record_use(stored, self.used_at)
        return super().save(rec, expected_version=expected_version, **kwargs)


def test_given_a_use_recorded_while_the_sweep_refreshes_then_the_refresh_is_stored_once_and_the_use_kept(tw):
    rec = idle(tw, expires_in=200)
    clock = FakeClock(start=time.time() + DAY)  # its liveness refresh is due
    store = UseBeforeSave(tw.services.connections, clock)
    refresher = tw.refresher(connections=store, clock=clock)

    outcome = refresher.refresh_if_due(rec.id, horizon=AHEAD + 600, deadline=clock.monotonic() + 20)

    assert outcome == RefreshOutcome.REFRESHED
    assert tw.token_requests() == 1  # no conflict, no second refresh
    stored = tw.stored(rec.id)
    assert stored.version == rec.version + 1
    assert stored.last_used_at == store.used_at
    assert due_at(tw, rec.id) == stored.expires_at - AHEAD  # stored busy: the use counts


class BrokenUseRecord(ConnectionStore):
    def __init__(self, inner: ConnectionStore):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead, schedule=inner.schedule)
        self.attempts = 0

    def record_use(self, rec: ConnectionRecord, now: int, *, interval: int = HOUR) -> bool:
        self.attempts += 1
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")


def test_given_the_use_write_fails_then_the_call_still_gets_its_token_and_the_failure_is_logged_and_counted(
    tw, caplog
):
    rec, tokens = tw.seed()
    store = BrokenUseRecord(tw.services.connections)
    refresher = tw.refresher(connections=store)
    with recorded_metrics("proxy") as recorded:
        first = refresher.get_fresh_token(rec)
        second = refresher.get_fresh_token(rec)
    counted = [d.values for d in recorded.data if d.name == "use_record_failed"]

    assert first.token == second.token == tokens["access_token"]
    assert store.attempts == 1  # this process waits a minute before trying again
    assert counted == [(1.0,)]
    warnings = [r for r in caplog.records if r.getMessage() == "connection use not recorded"]
    assert len(warnings) == 1 and getattr(warnings[0], "error_type", None) == "ClientError"
    assert tokens["access_token"] not in caplog.text


def test_given_an_old_rule_due_time_when_the_sweep_meets_an_idle_connection_then_it_is_only_rescheduled(
    tw,
):
    rec = idle(tw, expires_in=200)
    key = tw.services.connections.key(rec.id)
    tw.services.connections.table.update(
        *key, "SET due_at = :d", values={":d": rec.expires_at - AHEAD}, return_values="NONE"
    )

    outcome = tw.refresher().refresh_if_due(rec.id, horizon=AHEAD + 600, deadline=time.monotonic() + 20)

    assert outcome == RefreshOutcome.SKIPPED
    assert tw.token_requests() == 0
    assert (
        due_at(tw, rec.id) == tw.services.connections.schedule.due_at(tw.stored(rec.id)) > time.time() + HOUR
    )
