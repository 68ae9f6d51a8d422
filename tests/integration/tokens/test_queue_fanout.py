"""The sweep fans out through the work queue: the schedule only enqueues the due connections, the
refresh function consumes the queue through the local event source mapping (receive, invoke with an
SQS event, delete what succeeded), a failed job is redelivered alone and reaches the dead-letter
queue after maxReceiveCount receives, and a big tenant's provider switch completes through it."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from brokertest.tokens import seed_with_wrong_client_secret
from oauth_broker.ids import new_id
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.queue import SEND_ATTEMPTS, refresh_job, work_queue
from oauth_broker.tokens.sweep import RefreshSweep
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.aws_local import WorkQueueUrls, ensure_work_queue
from oauth_broker_dev.sqs_poller import LocalEventSourceMapping
from oauth_broker_dev.template import REPO_ROOT

MAX_RECEIVES = 3
BIG_TENANT = 2_500


@dataclass
class QueueWorld:
    tw: Any
    sqs: Any
    urls: WorkQueueUrls
    mapping: LocalEventSourceMapping

    @property
    def services(self) -> Any:
        return self.tw.services

    def queued(self) -> int:
        return self.mapping.pending()

    def dead_letters(self) -> list[str]:
        bodies: list[str] = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.urls.dead_letter_url, MaxNumberOfMessages=10)
            messages = resp.get("Messages") or []
            if not messages:
                return bodies
            bodies += [m["Body"] for m in messages]
            for m in messages:
                self.sqs.delete_message(QueueUrl=self.urls.dead_letter_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def qw(tw: Any, aws_call_recorder: Any) -> Iterator[QueueWorld]:
    """The token world with the work queue configured (as template.yaml's REFRESH_QUEUE_URL), a
    1 s visibility timeout so that redeliveries come quickly, and the local event source mapping
    driven by the test (`drain`)."""
    sqs = boto3.client("sqs")
    urls = ensure_work_queue(sqs, max_receive_count=MAX_RECEIVES, visibility_timeout=1)
    services = tw.services
    services.config = services.config.model_copy(update={"refresh_queue_url": urls.queue_url})
    services._sqs = sqs  # the functions' client: the recorder watches it
    mapping = LocalEventSourceMapping(
        boto3.client("sqs"),  # the Lambda service's own client
        urls.queue_url,
        urls.queue_arn,
        lambda event: lambda_runtime.invoke("refresh", event),
        batch_size=10,
    )
    with aws_call_recorder.watching(sqs):
        yield QueueWorld(tw, sqs, urls, mapping)


def seed_due(tw: Any, count: int) -> list[ConnectionRecord]:
    return [tw.seed(expires_in=400, owner=f"user{i}")[0] for i in range(count)]


def schedule_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())
    return event


def test_given_due_connections_when_the_schedule_fires_then_they_are_enqueued_and_the_queue_refreshes_them(
    qw,
):
    tw = qw.tw
    due = seed_due(tw, 25)

    report = lambda_runtime.invoke("refresh", schedule_event())

    # the schedule only enumerates and enqueues: nothing is refreshed inside it
    assert report["due"] == 25 and report["enqueued"] == 25 and report["remaining"] == 0
    assert report["refreshed"] == 0 and tw.token_requests() == 0
    assert qw.queued() == 25

    qw.mapping.drain(timeout=60)

    assert tw.token_requests() == 25
    assert all(tw.stored(rec.id).version == rec.version + 1 for rec in due)
    deliveries = qw.mapping.deliveries
    assert all(len(d.message_ids) <= 10 and not d.failed_ids for d in deliveries)
    assert sum(len(d.message_ids) for d in deliveries) == 25  # each job delivered once
    assert qw.dead_letters() == []


def test_given_a_batch_with_one_failing_refresh_when_consumed_then_only_it_is_redelivered_until_dead_lettered(
    qw,
):
    tw = qw.tw
    ok = seed_due(tw, 2)
    broken = seed_with_wrong_client_secret(tw)
    assert work_queue(qw.services).send([refresh_job(r.id) for r in (*ok, broken)]) == 0  # type: ignore[union-attr]

    assert qw.mapping.poll_once(wait_seconds=1) == 3
    first = qw.mapping.deliveries[0]
    assert len(first.message_ids) == 3 and len(first.failed_ids) == 1
    assert qw.queued() == 1  # the two refreshed are deleted; the failed one waits to come back

    qw.mapping.drain(timeout=60)

    later = qw.mapping.deliveries[1:]
    assert [d.message_ids for d in later] == [first.failed_ids] * (MAX_RECEIVES - 1)  # alone, each time
    assert [d.receive_counts[first.failed_ids[0]] for d in later] == list(range(2, MAX_RECEIVES + 1))
    assert all(tw.stored(r.id).version == r.version + 1 for r in ok)
    used = Counter(r.form()["refresh_token"][0] for r in tw.fake.requests_to("token"))
    assert sorted(used[tw.decrypt(r, "refresh_token")] for r in ok) == [1, 1]  # never retried
    assert [json.loads(b) for b in qw.dead_letters()] == [refresh_job(broken.id)]


def test_given_messages_that_are_not_jobs_when_consumed_then_they_land_in_the_dead_letter_queue(qw):
    poison = ["not json", json.dumps({"kind": "refresh", "id": "../../etc"}), json.dumps({"kind": "purge"})]
    for body in poison:
        qw.sqs.send_message(QueueUrl=qw.urls.queue_url, MessageBody=body)

    qw.mapping.drain(timeout=60)

    assert sorted(qw.dead_letters()) == sorted(poison)
    receives = Counter(m for d in qw.mapping.deliveries for m in d.message_ids)
    assert sorted(receives.values()) == [MAX_RECEIVES] * 3
    assert all(set(d.failed_ids) == set(d.message_ids) for d in qw.mapping.deliveries)


def test_given_the_queue_refusing_some_jobs_when_the_sweep_enqueues_then_they_stay_due_and_are_counted(qw):
    tw = qw.tw
    due = seed_due(tw, 12)
    refused = {due[3].id, due[7].id}
    real = work_queue(qw.services)
    assert real is not None

    class RefusingTwo:
        """SQS failing the entries of two connections in every SendMessageBatch (throttled: not
        the sender's fault, so they are retried, and keep failing)."""

        def __init__(self) -> None:
            self.attempts: Counter[str] = Counter()

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
            self.attempts.update(json.loads(e["MessageBody"])["id"] for e in Entries)
            bad = [e for e in Entries if json.loads(e["MessageBody"])["id"] in refused]
            good = [e for e in Entries if e not in bad]
            if good:
                qw.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=good)
            return {"Failed": [{"Id": e["Id"], "Code": "Throttling", "SenderFault": False} for e in bad]}

    stub = RefusingTwo()
    real.sqs = stub
    try:
        report = RefreshSweep(tw.services, tw.refresher()).run(deadline=time.monotonic() + 60)
    finally:
        real.sqs = qw.sqs

    assert report.due == 12 and report.enqueued == 10 and report.remaining == 2
    assert {i: stub.attempts[i] for i in refused} == {i: SEND_ATTEMPTS for i in refused}  # retried
    assert all(n == 1 for i, n in stub.attempts.items() if i not in refused)  # sent once
    assert qw.queued() == 10
    again = RefreshSweep(tw.services, tw.refresher()).run(deadline=time.monotonic() + 60)
    assert again.due == 12 and again.enqueued == 12  # still due: the next run sends them


# ------------------------------------------------------------------------ a big tenant's switch
def create_connections(qw: QueueWorld, count: int, *, tenant: str = "big") -> list[str]:
    """`count` active connections of google-mail in `tenant` (no tokens: a switch never reads them)."""
    stamp = rfc3339()
    ids = []
    for i in range(count):
        rec = ConnectionRecord(
            id=new_id("con"),
            tenant=tenant,
            owner=f"user{i % 50}",
            name=f"mailbox {i}",
            provider="google-mail",
            oauth_client_id="ocl_x",
            account_email=f"u{i}@example.com",
            account_sub=f"sub-{i}",
            scopes_requested=[],
            scopes_granted=[],
            status=ConnectionStatus.ACTIVE,
            created_at=stamp,
            updated_at=stamp,
        )
        qw.services.connections.create(rec)
        ids.append(rec.id)
    return ids


def statuses(qw: QueueWorld, tenant: str = "big") -> Counter[tuple[str, str | None]]:
    items = qw.services.table.query_all("tenant_pk = :t", {":t": f"TENANT#{tenant}#CON"}, index="ByTenant")
    return Counter((str(i["status"]), i.get("status_reason")) for i in items)


def set_enabled(qw: QueueWorld, enabled: bool, tenant: str = "big") -> Any:
    world = qw.tw.world
    return world.request(
        "PATCH",
        "/v1/providers/google-mail",
        token=world.token(tenant, "root", admin=True),
        json_body={"enabled": enabled},
    )


def test_given_a_tenant_with_2500_connections_when_the_provider_is_disabled_then_the_queue_completes_the_cut(
    qw,
):
    create_connections(qw, BIG_TENANT)
    started = time.monotonic()

    resp = set_enabled(qw, False)
    answered = time.monotonic() - started

    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["enabled"] is False
    assert answered < 10  # the request switched one page itself; the rest is queued
    assert statuses(qw)[("revoked", "provider_disabled")] == 100

    qw.mapping.drain(timeout=240)
    took = time.monotonic() - started

    assert statuses(qw) == Counter({("revoked", "provider_disabled"): BIG_TENANT})
    revoked = [e for e in qw.tw.events_of("connection.revoked") if e["tenant"] == "big"]
    assert (
        len(revoked) == BIG_TENANT and len({e["connection"]["connection_id"] for e in revoked}) == BIG_TENANT
    )
    assert qw.dead_letters() == []
    assert took < 240
    print(f"\n{BIG_TENANT} connections cut through the queue in {took:.1f} s (answer in {answered:.2f} s)")


def test_given_a_disable_then_an_enable_before_the_queue_runs_then_every_connection_ends_as_the_provider_is(
    qw,
):
    create_connections(qw, 300)

    assert set_enabled(qw, False).status_code == 202
    assert statuses(qw)[("revoked", "provider_disabled")] == 100  # the request's own page
    assert set_enabled(qw, True).status_code == 202  # both switches' jobs are queued, in any order
    qw.mapping.drain(timeout=120)

    assert statuses(qw) == Counter({("active", None): 300})
    restored = [e for e in qw.tw.events_of("connection.updated") if e["tenant"] == "big"]
    assert len(restored) == 100  # only those the disable had cut: nothing else changed


def test_given_a_big_tenant_disabled_when_re_enabled_then_the_queue_restores_every_connection(qw):
    create_connections(qw, 300)
    assert set_enabled(qw, False).status_code == 202
    qw.mapping.drain(timeout=120)
    assert statuses(qw) == Counter({("revoked", "provider_disabled"): 300})

    resp = set_enabled(qw, True)

    assert resp.status_code == 202 and resp.get_json()["enabled"] is True
    qw.mapping.drain(timeout=120)
    assert statuses(qw) == Counter({("active", None): 300})


def test_given_a_small_tenant_when_the_provider_is_disabled_then_the_answer_comes_after_the_whole_cut(qw):
    create_connections(qw, 40)

    resp = set_enabled(qw, False)

    assert resp.status_code == 200
    assert statuses(qw) == Counter({("revoked", "provider_disabled"): 40})
    assert qw.queued() == 0
