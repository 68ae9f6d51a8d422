"""The scheduled sweep: only due connections, read through the sparse index (never a Scan), bounded
by the Lambda deadline, with per-outcome counts published as metrics."""

from __future__ import annotations

import json
import time

from brokertest.metrics import emf_data, total
from brokertest.tokens import AwsCallCounter, seed_with_wrong_client_secret
from oauth_broker.ids import new_id
from oauth_broker.store.connections import due_shard
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.tokens.lease import LeaseStore
from oauth_broker.tokens.refresher import RefreshOutcome
from oauth_broker.tokens.sweep import RefreshSweep
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import REPO_ROOT

TOTAL = 10_000
DUE = 100


def write_idle_connections(tw, count: int) -> None:
    """`count` connections whose tokens are good for another hour, written 25 at a time with
    BatchWriteItem. Only the attributes the sweep's index sees: they must never be read."""
    due_at = int(time.time()) + 3600 - tw.services.config.refresh_ahead_seconds
    client = tw.world.aws.dynamodb
    table = tw.world.aws.resources.table_name
    for start in range(0, count, 25):
        batch = []
        for _ in range(min(25, count - start)):
            con_id = new_id("con")
            item = {
                "pk": {"S": f"CON#{con_id}"},
                "sk": {"S": "CON"},
                "due_pk": {"S": due_shard(con_id)},
                "due_at": {"N": str(due_at)},
                "tenant": {"S": "acme"},
                "status": {"S": "active"},
            }
            batch.append({"PutRequest": {"Item": item}})
        client.batch_write_item(RequestItems={table: batch})


def seed_due(tw, count: int, *, expires_in: int = 400) -> list[ConnectionRecord]:
    return [tw.seed(expires_in=expires_in, owner=f"user{i}")[0] for i in range(count)]


def test_given_10000_connections_with_100_due_when_the_sweep_runs_then_exactly_the_due_ones_are_refreshed(tw):
    due = seed_due(tw, DUE)
    write_idle_connections(tw, TOTAL - DUE)
    refresh_tokens = {tw.decrypt(rec, "refresh_token"): rec.id for rec in due}
    ddb = AwsCallCounter(tw.world.aws.dynamodb)

    report = RefreshSweep(tw.services, tw.refresher()).run(deadline=time.monotonic() + 120)
    calls, total = dict(ddb.calls), ddb.total
    ddb.detach()

    assert report.due == DUE and report.refreshed == DUE
    assert (report.failed, report.needs_reauth, report.skipped, report.remaining) == (0, 0, 0, 0)
    used = {r.form()["refresh_token"][0] for r in tw.fake.requests_to("token")}
    assert used == set(refresh_tokens) and tw.token_requests() == DUE
    assert all(tw.stored(rec.id).version == rec.version + 1 for rec in due)
    # reads grow with the due connections, not with the table: one Query page per shard (+ one of
    # the unconfirmed connect results, + one of the due revocation tombstones, + one of the Gmail
    # watches due for renewal), one consistent GetItem per due connection (+ the OAuth client,
    # once per process)
    assert "Scan" not in calls
    assert calls["Query"] == report.queries == 8 + 1 + 1 + 1
    assert DUE <= calls["GetItem"] <= DUE + 8  # + the OAuth client, once per worker at most
    assert calls["PutItem"] == 2 * DUE  # lease + compare-and-set save
    assert calls["DeleteItem"] == DUE  # lease release
    assert total <= 4 * DUE + 16


def test_given_a_deadline_that_stops_the_sweep_early_then_the_rest_is_refreshed_by_the_next_run(tw):
    due = seed_due(tw, 24)
    # Slow but successful token requests: 24 of them, two at a time, need 3 s at the very least,
    # so a 2 s deadline must stop the sweep early, and leaves room for some on a loaded machine.
    tw.fake.fail_next("token", delay=0.25, count=24)
    sweep = RefreshSweep(tw.services, tw.refresher(), concurrency=2, reserve_seconds=0.0)

    first = sweep.run(deadline=time.monotonic() + 2.0)

    assert first.stopped_early and 0 < first.refreshed < 24
    assert first.refreshed + first.remaining == 24 and first.failed == first.skipped == 0
    second = RefreshSweep(tw.services, tw.refresher(), concurrency=2).run(deadline=time.monotonic() + 60)
    assert second.due == first.remaining and second.refreshed == first.remaining
    assert tw.token_requests() == 24  # nobody refreshed twice
    assert all(tw.stored(rec.id).version == rec.version + 1 for rec in due)


def test_given_due_connections_with_different_fates_when_swept_then_each_outcome_is_counted(tw):
    _, dead, busy = seed_due(tw, 3)  # alice's: her grants are revoked at Google below
    tw.fake.revoke_all_for("alice@example.com")
    ok = tw.seed(expires_in=400, email="bob@example.com", owner="bob")[0]
    LeaseStore(tw.services.table).acquire(busy.id, "lease_other_container", 30)
    broken = seed_with_wrong_client_secret(tw)

    report = RefreshSweep(tw.services, tw.refresher()).run(deadline=time.monotonic() + 60)

    assert report.due == 5
    assert (report.refreshed, report.needs_reauth, report.skipped, report.failed) == (1, 2, 1, 1)
    assert tw.stored(ok.id).version == ok.version + 1
    assert tw.stored(dead.id).status == "needs_reauth"
    assert tw.stored(busy.id).version == busy.version
    assert tw.stored(broken.id).last_refresh_error == "invalid_client"
    assert len(tw.events_of("connection.refresh_failed")) == 1


def test_given_the_schedule_event_when_the_refresh_function_runs_then_it_sweeps_and_publishes_metrics(
    tw, capsys
):
    seed_due(tw, 3)
    event = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())

    result = lambda_runtime.invoke("refresh", event)

    assert result["refreshed"] == 3 and result["remaining"] == 0
    data = emf_data(capsys.readouterr().out)
    assert total(data, "refreshed") == 3
    assert total(data, "refresh_failed") == total(data, "needs_reauth") == 0
    assert total(data, "sweep_remaining") == total(data, "sweep_enqueued") == 0
    assert {d.name for d in data if d.dimensions.get("function") == "refresh"} <= {"cold_start"}


def test_given_a_function_nearly_out_of_time_when_the_schedule_fires_then_it_leaves_the_work_for_the_next_run(
    tw,
):
    due = seed_due(tw, 3)
    event = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())

    result = lambda_runtime.invoke("refresh", event, timeout=5.0)  # less than the sweep's reserve

    assert result["due"] == 3 and result["refreshed"] == 0 and result["remaining"] == 3
    assert tw.token_requests() == 0 and all(tw.stored(r.id).version == r.version for r in due)


def test_given_items_deferred_for_lack_of_time_when_swept_then_the_report_says_it_stopped_early(tw):
    seed_due(tw, 3)

    refresher = tw.refresher()

    class OutOfTime:
        """The real refresher's store, but every item finds too little time left before its deadline
        (as near a Lambda's end)."""

        connections = refresher.connections

        def refresh_if_due(self, connection_id, *, horizon, deadline):
            return RefreshOutcome.DEFERRED

    report = RefreshSweep(tw.services, OutOfTime(), concurrency=1).run(deadline=time.monotonic() + 60)

    assert (report.due, report.refreshed, report.remaining) == (3, 0, 3)
    assert report.stopped_early is True
