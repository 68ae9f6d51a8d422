"""Refresh when it matters: idle versus busy connections over an injected clock (moto and the fake
Google; a month runs in seconds).

The sweep is simulated tick by tick the way it runs in AWS: every `sweep_interval_seconds` it
selects, from the sparse `ByRefreshDue` index, what is due before the next tick (the sweep's own
Query: `due_pk = :shard AND due_at <= :until`), and hands it to `TokenRefresher.refresh_if_due`.
A "request" is what the proxy does for each call: read the connection (one GetItem), then
`TokenRefresher.get_fresh_token`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import pytest

from brokertest.tokens import AwsCallCounter, FakeClock
from oauth_broker.store.connections import due_shard
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.schedule import RefreshSchedule
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.refresher import RefreshOutcome, TokenRefresher

HOUR = 3600
DAY = 24 * HOUR
TICK = 600  # the sweep's schedule (sweep_interval_seconds)
AHEAD = 300  # refresh_ahead_seconds
# A refreshed-ahead token (an hour long) is refreshed by the last tick before its due time
# (expiry - AHEAD - TICK): every 50 minutes, ~864 refreshes a month.
BUSY_GAP = 3000
LIVENESS_GAP = DAY - TICK


@dataclass
class Sim:
    """One connection, one clock, one refresher (one container), and what happened."""

    tw: object
    clock: FakeClock
    refresher: TokenRefresher
    connection_id: str
    next_tick: float = 0.0
    background_refreshes: int = 0
    request_refreshes: int = 0  # token requests made while a request waited
    requests: int = 0
    stale_tokens: int = 0  # requests answered with a token expiring within a minute
    outcomes: list[RefreshOutcome] = field(default_factory=list)
    refreshed_at: list[float] = field(default_factory=list)

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.tw.services  # type: ignore[attr-defined]

    def token_requests(self) -> int:
        return self.tw.token_requests()  # type: ignore[attr-defined]

    def stored(self) -> ConnectionRecord:
        rec = self.services.connections.get(self.connection_id)
        assert rec is not None
        return rec

    def indexed_due_at(self) -> int | None:
        item = self.services.connections.table.get(*self.services.connections.key(self.connection_id))
        return None if item is None or "due_at" not in item else int(item["due_at"])

    def sweep(self) -> None:
        """One run of the sweep at the current time."""
        now = int(self.clock.time())
        items, _ = self.services.connections.table.query(
            "due_pk = :p AND due_at <= :t",
            {":p": due_shard(self.connection_id), ":t": now + TICK},
            index="ByRefreshDue",
        )
        for item in items:
            before = self.token_requests()
            outcome = self.refresher.refresh_if_due(
                self.connection_id, horizon=AHEAD + TICK, deadline=self.clock.monotonic() + 20
            )
            self.outcomes.append(outcome)
            made = self.token_requests() - before
            self.background_refreshes += made
            if made:
                self.refreshed_at.append(self.clock.time())
            assert item["pk"] == f"CON#{self.connection_id}"

    def request(self) -> None:
        """One proxied call's token: read the item, get a fresh token."""
        before = self.token_requests()
        conn = self.stored()
        token = self.refresher.get_fresh_token(conn, deadline=self.clock.monotonic() + 10)
        self.request_refreshes += self.token_requests() - before
        self.requests += 1
        if token.expires_at - self.clock.time() < 60:
            self.stale_tokens += 1

    def run_until(self, end: float, *, use_every: float | None = None) -> None:
        """Advances to `end`: a sweep at every tick, a request every `use_every` seconds."""
        next_use = self.clock.time() if use_every else float("inf")
        while True:
            moment = min(self.next_tick, next_use)
            if moment > end:
                self.clock.advance(end - self.clock.time())
                return
            self.clock.advance(moment - self.clock.time())
            if moment == self.next_tick:
                self.sweep()
                self.next_tick += TICK
            else:
                self.request()
                next_use += use_every or 0

    def idle_until(self, end: float) -> None:
        """Advances to `end` with no use: ticks that find nothing due are skipped (they read the
        index and do nothing else), the one before `due_at` runs."""
        while True:
            due_at = self.indexed_due_at()
            if due_at is None:
                break
            # the first tick that sees it: tick + TICK >= due_at
            ticks = max(0, -(-(due_at - TICK - self.next_tick) // TICK))
            tick = self.next_tick + ticks * TICK
            if tick > end:
                break
            self.clock.advance(tick - self.clock.time())
            self.next_tick = tick
            self.sweep()
            self.next_tick += TICK
        self.clock.advance(max(0.0, end - self.clock.time()))
        while self.next_tick <= end:
            self.next_tick += TICK


def simulate(tw, *, last_used_ago: float | None, created_ago: float = 30 * DAY) -> Sim:  # type: ignore[no-untyped-def]
    """A connection made `created_ago` seconds ago whose token was refreshed just now (valid an
    hour), last used `last_used_ago` seconds ago (None: never)."""
    clock = FakeClock(start=time.time())
    rec, _ = tw.seed()
    now = clock.time()
    changes: dict[str, object] = {
        "created_at": rfc3339(now - created_ago),
        "last_refreshed_at": rfc3339(now),
        "expires_at": int(now) + HOUR,
    }
    if last_used_ago is not None:
        changes["last_used_at"] = int(now - last_used_ago)
    tw.services.connections.save(rec.model_copy(update=changes), expected_version=rec.version)
    refresher = tw.refresher(clock=clock)
    return Sim(tw, clock, refresher, rec.id, next_tick=now)


# -- idle ---------------------------------------------------------------------------------------------
def test_given_an_idle_connection_over_a_month_then_it_costs_a_liveness_refresh_a_day_not_one_an_hour(
    tw,
):
    sim = simulate(tw, last_used_ago=40 * DAY)
    start = sim.clock.time()

    sim.idle_until(start + 30 * DAY)

    assert sim.background_refreshes == 30  # refreshed ahead, it would be 30 * DAY // BUSY_GAP = 864
    gaps = [b - a for a, b in zip([start, *sim.refreshed_at], sim.refreshed_at, strict=False)]
    assert set(gaps) == {LIVENESS_GAP}, gaps
    assert sim.request_refreshes == 0
    assert sim.stored().status == ConnectionStatus.ACTIVE


def test_given_an_idle_connection_when_used_then_its_token_is_refreshed_on_demand_then_ahead_again(
    tw,
):
    sim = simulate(tw, last_used_ago=40 * DAY)
    start = sim.clock.time()
    sim.idle_until(start + 3 * HOUR)  # its token expired two hours ago
    assert sim.background_refreshes == 0

    sim.request()

    assert sim.request_refreshes == 1 and sim.stale_tokens == 0  # on demand, at first use
    stored = sim.stored()
    assert stored.last_used_at == int(sim.clock.time())
    assert sim.indexed_due_at() == stored.expires_at - AHEAD  # busy: refreshed ahead again
    before = sim.background_refreshes
    sim.idle_until(sim.clock.time() + 5 * BUSY_GAP)
    assert sim.background_refreshes - before == 5


def test_given_a_connection_used_once_when_a_day_passes_then_it_falls_back_to_the_liveness_schedule(tw):
    sim = simulate(tw, last_used_ago=None, created_ago=40 * DAY)
    sim.request()  # used now: busy for the next 24 h
    start = sim.clock.time()

    sim.idle_until(start + 10 * DAY)

    # refreshed ahead while it counts as busy (the last one stores it idle), then daily
    busy = [t - start for t in sim.refreshed_at if t - start <= DAY]
    assert busy == [BUSY_GAP * k for k in range(1, len(busy) + 1)]
    assert len(busy) == 28  # the one at 28 * 3000 s: its token's refresh-ahead time is past 24 h
    later = [t - start for t in sim.refreshed_at if t - start > DAY]
    assert later == [busy[-1] + LIVENESS_GAP * k for k in range(1, 10)]
    assert sim.request_refreshes == 0


def test_given_an_idle_connections_grant_died_then_the_liveness_refresh_marks_it_needs_reauth_in_a_day(
    tw,
):
    sim = simulate(tw, last_used_ago=40 * DAY)
    start = sim.clock.time()
    tw.fake.revoke_all_for("alice@example.com")

    sim.idle_until(start + DAY + HOUR)

    assert RefreshOutcome.NEEDS_REAUTH in sim.outcomes
    assert sim.stored().status == ConnectionStatus.NEEDS_REAUTH
    assert tw.event_types().count("connection.needs_reauth") == 1
    assert sim.indexed_due_at() is None  # out of the index: nothing more to refresh


# -- busy ---------------------------------------------------------------------------------------------
def test_given_a_busy_connection_used_every_five_minutes_then_no_request_ever_waits_on_a_refresh(tw):
    sim = simulate(tw, last_used_ago=60)
    start = sim.clock.time()

    sim.run_until(start + 2 * DAY, use_every=300)

    assert sim.requests == 2 * DAY // 300 + 1
    assert sim.request_refreshes == 0  # every call found a valid token
    assert sim.stale_tokens == 0
    assert sim.background_refreshes == 2 * DAY // BUSY_GAP  # ahead of expiry, in the background


def test_given_many_calls_over_three_hours_then_last_used_at_is_written_at_most_once_an_hour(tw):
    sim = simulate(tw, last_used_ago=None, created_ago=HOUR)
    ddb = AwsCallCounter(tw.world.aws.dynamodb)
    start = sim.clock.time()
    written: list[int] = []

    def note_writes(params=None, **_):  # type: ignore[no-untyped-def]
        if "last_used_at" in params.get("UpdateExpression", ""):
            written.append(int(sim.clock.time()))

    event = "before-parameter-build.dynamodb.UpdateItem"
    tw.world.aws.dynamodb.meta.events.register(event, note_writes)
    try:
        sim.run_until(start + 3 * HOUR, use_every=20)
    finally:
        tw.world.aws.dynamodb.meta.events.unregister(event, note_writes)
        ddb.detach()

    assert sim.requests == 3 * HOUR // 20 + 1
    assert len(written) == 4  # at 0 h, 1 h, 2 h and 3 h
    assert all(b - a >= HOUR for a, b in itertools.pairwise(written))
    assert sim.stored().last_used_at == written[-1]


def test_given_several_containers_calling_then_one_use_write_an_hour_is_made_between_them(tw):
    sim = simulate(tw, last_used_ago=None, created_ago=HOUR)
    containers = [tw.refresher(clock=sim.clock) for _ in range(4)]
    ddb = AwsCallCounter(tw.world.aws.dynamodb)

    for _ in range(30):
        for refresher in containers:
            refresher.get_fresh_token(sim.stored())
        sim.clock.advance(60)

    ddb.detach()
    # 30 minutes of calls: the first container's write; the others read it on the item
    assert ddb["UpdateItem"] == 1
    assert ddb["PutItem"] == 0  # no refresh, no version bump


# -- the sweep's own selection ------------------------------------------------------------------------
def test_given_an_idle_and_a_busy_connection_expiring_soon_when_the_sweep_selects_then_only_busy_is_due(
    tw,
):
    from oauth_broker.tokens.sweep import RefreshSweep, SweepReport

    now = time.time()
    idle, _ = tw.seed(expires_in=200)
    busy, _ = tw.seed(expires_in=200)
    connections = tw.services.connections
    connections.save(
        idle.model_copy(
            update={"created_at": rfc3339(now - 5 * DAY), "last_refreshed_at": rfc3339(now - HOUR)}
        ),
        expected_version=idle.version,
    )
    connections.record_use(busy, int(now))

    due = RefreshSweep(tw.services).due_connections(int(now) + TICK, SweepReport())

    assert [cid for _, cid in due] == [busy.id]


@pytest.mark.parametrize("interval_hours", [24, 72])
def test_given_a_provider_liveness_interval_then_an_idle_connections_due_time_follows_it(tw, interval_hours):
    now = time.time()
    rec, _ = tw.seed()
    schedule = tw.services.connections.schedule
    tw.services.connections.schedule = RefreshSchedule(
        refresh_ahead=schedule.refresh_ahead,
        active_within=schedule.active_within,
        liveness_for=lambda provider: interval_hours * HOUR if provider == rec.provider else DAY,
    )
    refreshed = int(now) - HOUR
    saved = tw.services.connections.save(
        rec.model_copy(
            update={"created_at": rfc3339(now - 5 * DAY), "last_refreshed_at": rfc3339(refreshed)}
        ),
        expected_version=rec.version,
    )

    item = tw.services.connections.table.get(*tw.services.connections.key(saved.id))

    assert item is not None and item["due_at"] == refreshed + interval_hours * HOUR


def test_given_the_built_in_google_providers_then_an_idle_connection_is_checked_daily(tw):
    assert tw.services.liveness_seconds("google-mail") == DAY
    assert tw.services.liveness_seconds("google-contacts") == DAY
    assert tw.services.liveness_seconds("a-custom-provider") == DAY  # the default
