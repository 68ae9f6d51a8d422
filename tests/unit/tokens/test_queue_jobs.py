"""The work queue's jobs: what the sweep and a provider switch send is what the consumer accepts,
and the refresh function tells an SQS batch from the schedule and a direct invocation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from oauth_broker.tokens.queue import reconcile_job, refresh_job, switch_job
from oauth_broker.tokens.queue_worker import _JOB, ReconcileJob, RefreshJob, SwitchJob, is_sqs_event
from oauth_broker.tokens.sweep import is_scheduled_event

SCHEDULE = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
DIRECT = {"action": "refresh", "tenant": "acme", "connection_id": "con_1"}


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {"messageId": str(i), "receiptHandle": "h", "body": b, "eventSource": "aws:sqs"}
            for i, b in enumerate(bodies)
        ]
    }


def test_given_the_jobs_the_broker_sends_when_the_consumer_parses_them_then_each_is_its_kind():
    cursor = {"pk": "CON#con_9", "sk": "CON", "tenant_pk": "TENANT#acme#CON", "tenant_sk": "CON#x"}

    refresh = _JOB.validate_json(json.dumps(refresh_job("con_abc")))
    switch = _JOB.validate_json(json.dumps(switch_job("acme", "google-mail", cursor)))
    reconcile = _JOB.validate_json(json.dumps(reconcile_job("acme", "google-mail", ["con_a", "con_b"])))

    assert refresh == RefreshJob(kind="refresh", id="con_abc")
    assert isinstance(switch, SwitchJob) and json.loads(switch.cursor or "") == cursor
    assert isinstance(reconcile, ReconcileJob) and reconcile.ids == ["con_a", "con_b"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"kind": "purge"}',
        '{"kind": "refresh", "id": "../etc"}',
        '{"kind": "refresh", "id": "con_a", "force": true}',
        '{"kind": "reconcile", "tenant": "acme", "provider": "p", "ids": []}',
    ],
)
def test_given_a_body_that_is_not_a_job_when_parsed_then_it_is_refused(body: str):
    with pytest.raises(ValidationError):
        _JOB.validate_json(body)


def test_given_the_three_kinds_of_event_when_told_apart_then_each_is_recognised_alone():
    batch = sqs_event(json.dumps(refresh_job("con_a")))

    assert is_sqs_event(batch) and not is_scheduled_event(batch)
    assert is_scheduled_event(SCHEDULE) and not is_sqs_event(SCHEDULE)
    assert not is_sqs_event(DIRECT) and not is_scheduled_event(DIRECT)
    assert not is_sqs_event({"Records": []})
    assert not is_sqs_event({"Records": [{"eventSource": "aws:s3"}]})
