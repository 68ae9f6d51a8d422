"""EventBridge x the flows that publish: a failed PutEvents and a partial failure (FailedEntryCount)
never fail the user's request, and the event is published again (EventPublisher retries)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from brokertest.connect import run_flow
from brokertest.faults import FaultWorld
from brokertest.tokens import AwsCallCounter

PARTIAL = {
    "FailedEntryCount": 1,
    "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected by the test"}],
}


def _inject(fw: FaultWorld, kind: str) -> Any:
    events = fw.world.aws.events
    if kind == "put_events_fails":
        return fw.faults.fail(events, "PutEvents", "InternalException", status=500)
    return fw.faults.answer(events, "PutEvents", PARTIAL)


def _audit_events(counter: AwsCallCounter) -> int:
    """The distinct `audit.*` events sent (they go to the bus, not to the in-process listeners)."""
    ids = set()
    for operation, params in counter.params:
        if operation == "PutEvents":
            for entry in json.loads(params["body"])["Entries"]:
                if entry["DetailType"].startswith("audit."):
                    ids.add(json.loads(entry["Detail"])["event_id"])
    return len(ids)


def _sent_for_each(fw: FaultWorld, kind: str, counter: AwsCallCounter) -> int:
    """PutEvents calls that reached EventBridge when every event got there: one per event (the
    connection's and the audit trail's), plus the refused first attempt of a partial failure (a
    failed call is raised before it is sent)."""
    return len(fw.event_types()) + _audit_events(counter) + (1 if kind == "partial_failure" else 0)


@pytest.mark.parametrize("kind", ["put_events_fails", "partial_failure"])
def test_given_eventbridge_failing_once_when_a_connection_is_deleted_then_it_is_gone_and_the_event_resent(
    fw: FaultWorld, kind: str
) -> None:
    con = fw.pw.connect()
    counter = AwsCallCounter(fw.world.aws.events)
    injected = _inject(fw, kind)
    try:
        resp = fw.pw.call("DELETE", f"/v1/connections/{con.id}")
    finally:
        counter.detach()

    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    assert injected.hits == 1
    assert fw.services.connections.get(con.id) is None
    assert _audit_events(counter) == 1  # connection.deleted
    assert counter["PutEvents"] == _sent_for_each(fw, kind, counter)


@pytest.mark.parametrize("kind", ["put_events_fails", "partial_failure"])
def test_given_eventbridge_failing_once_when_a_connect_flow_completes_then_it_connects_and_the_event_resent(
    fw: FaultWorld, kind: str
) -> None:
    counter = AwsCallCounter(fw.world.aws.events)
    injected = _inject(fw, kind)
    try:
        flow = run_flow(fw.world, fw.fake, fw.ocl)
    finally:
        counter.detach()

    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    assert injected.hits == 1
    assert "connection.created" in fw.event_types()
    assert counter["PutEvents"] == _sent_for_each(fw, kind, counter)
