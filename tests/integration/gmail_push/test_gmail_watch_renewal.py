"""Watches renewed once a day (over an injected clock) and stopped when access ends; a backlog
bigger than one push's budget continued through the work queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from brokertest.gmail_push import PushWorld
from brokertest.proxy import ALICE
from oauth_broker.gmail_push import receiver as receiver_module
from oauth_broker.gmail_push.watches import WatchService
from oauth_broker.store.gmail_watches import RENEW_INTERVAL_SECONDS
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.tokens.sweep import RefreshSweep
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.aws_local import ensure_work_queue
from oauth_broker_dev.sqs_poller import LocalEventSourceMapping
from oauth_broker_dev.template import REPO_ROOT

DAY = RENEW_INTERVAL_SECONDS


def renewals_at(gp: PushWorld, moment: float) -> Any:
    return WatchService(gp.services, now=lambda: moment).renew_due(stop_at=time.monotonic() + 30)


def watch_calls(gp: PushWorld) -> int:
    """users.watch calls Gmail answered 200 (a token that expired meanwhile is refused once first)."""
    return len([r for r in gp.pw.api_requests() if r.path.endswith("/watch") and r.status == 200])


def test_given_a_watch_when_a_day_passes_then_it_is_renewed_at_google_and_due_again_a_day_later(
    gp: PushWorld,
):
    rec = gp.watched()
    first = gp.stored_watch(rec)
    assert first is not None
    client_id = gp.pw.clients[("acme", "google-mail")].client_id
    gp.fake.advance_clock(DAY + 60)

    report = renewals_at(gp, first.renewed_at + DAY + 60)

    assert (report.due, report.renewed, report.stopped, report.failed) == (1, 1, 0, 0)
    renewed = gp.stored_watch(rec)
    assert renewed is not None and renewed.renewed_at == first.renewed_at + DAY + 60
    assert renewed.expires_at == int(gp.fake.watches[(ALICE, client_id)].expiration) > first.expires_at
    assert renewed.history_id == first.history_id  # what was announced is unchanged
    assert watch_calls(gp) == 2
    # due again only a day after the renewal
    assert renewals_at(gp, renewed.renewed_at + DAY - 60).due == 0
    assert renewals_at(gp, renewed.renewed_at + DAY + 1).due == 1


def test_given_a_watch_renewed_less_than_a_day_ago_when_the_sweep_looks_then_google_is_not_called(
    gp: PushWorld,
):
    rec = gp.watched()
    first = gp.stored_watch(rec)
    assert first is not None

    report = renewals_at(gp, first.renewed_at + DAY - 60)

    assert report.due == 0 and watch_calls(gp) == 1


def test_given_a_watch_whose_connection_lost_its_read_scope_when_renewed_then_it_is_stopped(gp: PushWorld):
    rec = gp.watched()
    gp.pw.update(rec, scopes_granted=["https://www.googleapis.com/auth/gmail.send"])
    first = gp.stored_watch(rec)
    assert first is not None

    report = renewals_at(gp, first.renewed_at + DAY + 60)

    assert (report.renewed, report.stopped) == (0, 1)
    assert gp.stored_watch(rec) is None and watch_calls(gp) == 1


def test_given_a_watch_whose_connection_needs_reauth_when_renewed_then_it_is_stopped(gp: PushWorld):
    rec = gp.watched()
    gp.pw.update(rec, status=ConnectionStatus.NEEDS_REAUTH, status_reason="invalid_grant")
    first = gp.stored_watch(rec)
    assert first is not None

    report = renewals_at(gp, first.renewed_at + DAY + 60)

    assert report.stopped == 1 and gp.stored_watch(rec) is None


def test_given_a_tenant_that_removed_its_gmail_push_settings_when_renewed_then_the_watch_is_stopped(
    gp: PushWorld,
):
    rec = gp.watched()
    resp = gp.pw.call("PATCH", "/v1/settings", user="root", admin=True, json_body={"gmail_push": None})
    assert resp.status_code == 200 and resp.get_json()["gmail_push"] is None
    first = gp.stored_watch(rec)
    assert first is not None

    report = renewals_at(gp, first.renewed_at + DAY + 60)

    assert report.stopped == 1 and gp.stored_watch(rec) is None
    assert gp.fake.watches == {}  # Google stops publishing to the topic too (users.stop)


def watched_a_day_ago(gp: PushWorld) -> ConnectionRecord:
    """A watched connection whose watch was last renewed a day and a minute ago: due now."""
    rec = gp.watched()
    first = gp.stored_watch(rec)
    assert first is not None
    gp.watches.put(
        first.model_copy(update={"renewed_at": int(time.time()) - DAY - 60}), expected_version=first.version
    )
    return rec


def test_given_a_watch_due_when_the_refresh_functions_schedule_fires_then_it_is_renewed_there(gp: PushWorld):
    # through the refresh function itself (the scheduled sweep): what its IAM policy must allow
    rec = watched_a_day_ago(gp)
    event = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())

    result = lambda_runtime.invoke("refresh", event)

    assert (result["gmail_watches_due"], result["gmail_watches_renewed"]) == (1, 1), result
    renewed = gp.stored_watch(rec)
    assert renewed is not None and renewed.renewed_at >= int(time.time()) - 5
    assert watch_calls(gp) == 2


def test_given_a_watch_due_when_the_sweep_runs_in_process_then_its_report_counts_the_renewal(gp: PushWorld):
    rec = watched_a_day_ago(gp)

    report = RefreshSweep(gp.services, in_process=True).run(deadline=time.monotonic() + 60)

    assert (report.gmail_watches_due, report.gmail_watches_renewed) == (1, 1)
    renewed = gp.stored_watch(rec)
    assert renewed is not None and renewed.renewed_at >= int(time.time()) - 5


# -- a backlog through the work queue ----------------------------------------------------------------
@pytest.fixture
def queued(
    gp: PushWorld, monkeypatch: pytest.MonkeyPatch, aws_call_recorder: Any
) -> Iterator[LocalEventSourceMapping]:
    """The work queue configured (as template.yaml's REFRESH_QUEUE_URL) and drained by the refresh
    function; a push reads 2 history pages of 2 records, a queued job 2 more."""
    monkeypatch.setattr(receiver_module, "PAGE_SIZE", 2)
    monkeypatch.setattr(receiver_module, "INLINE_PAGES", 2)
    monkeypatch.setattr(receiver_module, "QUEUE_PAGES", 2)
    sqs = boto3.client("sqs")
    urls = ensure_work_queue(sqs, max_receive_count=3, visibility_timeout=1)
    services = gp.services
    services.config = services.config.model_copy(update={"refresh_queue_url": urls.queue_url})
    services._sqs = sqs
    mapping = LocalEventSourceMapping(
        boto3.client("sqs"),
        urls.queue_url,
        urls.queue_arn,
        lambda event: lambda_runtime.invoke("refresh", event),
        batch_size=10,
    )
    with aws_call_recorder.watching(sqs):
        yield mapping


def test_given_a_backlog_beyond_one_pushs_budget_when_pushed_then_the_queue_announces_the_rest_once(
    gp: PushWorld, queued: LocalEventSourceMapping
):
    gp.watched()
    gp.fake.pubsub.pause()
    ids = [gp.fake.deliver_message(ALICE, "carol@example.org", f"backlog {i}", "text").id for i in range(11)]
    gp.fake.pubsub.reset()  # their pushes are lost: only the next message's push comes
    ids.append(gp.deliver_mail(ALICE, "the last one"))

    first_push = [m["id"] for e in gp.gmail_events() for m in e["messages"]]
    assert len(first_push) == 4  # 2 pages of 2 within the push; the rest queued
    queued.drain(timeout=60)

    announced = [m["id"] for e in gp.gmail_events() for m in e["messages"]]
    assert sorted(announced) == sorted(ids) and len(announced) == len(set(announced))
    assert [len(e["messages"]) for e in gp.gmail_events()] == [4, 4, 4]
