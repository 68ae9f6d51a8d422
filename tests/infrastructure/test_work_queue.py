"""The work queue in template.yaml: the refresh function's SQS event source mapping (batch size and
maximum concurrency as parameters, partial batch responses), the queue's encryption, redrive to a
dead-letter queue with an alarm on it, and least privilege for the senders and the mapping."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.iam_policy import Grant
from infrastructure.infra_template import FUNCTIONS, Stack, actions_of, as_set
from infrastructure.test_iam_from_behaviour import (
    EVENT_SOURCE_SQS_ACTIONS,
    event_source_queues,
    grants_of,
    platform_grant_reason,
    resource_types,
)

QUEUE = {"Fn::GetAtt": ["RefreshQueue", "Arn"]}
# api: provider switches, forced refreshes; refresh: the sweep; gmail_push: a mailbox's history
# backlog beyond its inline budget (a gmail_history job)
ENQUEUERS = ("ApiFunction", "RefreshFunction", "GmailPushFunction")


def queue_event(stack: Stack) -> dict[str, Any]:
    events = stack.events_of_type("RefreshFunction", "SQS")
    assert len(events) == 1, events
    return events[0]


def parameter(stack: Stack, name: str) -> dict[str, Any]:
    param: dict[str, Any] = stack.template["Parameters"][name]
    return param


def test_given_the_refresh_function_then_an_sqs_event_source_consumes_the_queue_with_partial_batch_responses(
    stack: Stack,
):
    event = queue_event(stack)

    assert event["Queue"] == QUEUE
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == {"Ref": "RefreshQueueBatchSize"}
    assert event["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "RefreshQueueMaxConcurrency"}}
    assert "FilterCriteria" not in event  # a filtered-out message would be deleted unprocessed


def test_given_the_mapping_parameters_then_their_ranges_are_what_lambda_accepts_and_leave_room_for_the_sweep(
    stack: Stack,
):
    batch = parameter(stack, "RefreshQueueBatchSize")
    concurrency = parameter(stack, "RefreshQueueMaxConcurrency")
    receives = parameter(stack, "RefreshQueueMaxReceiveCount")
    reserved = parameter(stack, "RefreshReservedConcurrency")

    # above 10 a standard queue needs a batching window; MaximumConcurrency is 2 at least
    assert (batch["Type"], batch["MinValue"], batch["MaxValue"]) == ("Number", 1, 10)
    assert (concurrency["Type"], concurrency["MinValue"]) == ("Number", 2)
    assert 2 <= concurrency["Default"] < reserved["Default"]  # the sweep and forced refreshes fit
    assert receives["MinValue"] >= 1 and receives["Default"] >= 3  # a transient failure gets retries


def test_given_the_work_queue_then_it_is_encrypted_and_redrives_to_the_dead_letter_queue(stack: Stack):
    queue = stack.props("RefreshQueue")
    dead = stack.props("RefreshDeadLetterQueue")
    timeout = stack.props("RefreshFunction")["Timeout"]

    assert queue["SqsManagedSseEnabled"] is True and dead["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in queue  # SQS-managed keys: no KMS permission for anyone
    assert queue["VisibilityTimeout"] >= 6 * timeout  # Lambda's advice for an SQS event source
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RefreshDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "RefreshQueueMaxReceiveCount"},
    }
    assert dead["MessageRetentionPeriod"] == 1209600  # 14 days to look at what failed


def test_given_the_dead_letter_queue_then_an_alarm_fires_on_its_first_message(stack: Stack):
    alarms = [
        props
        for props in (stack.props(k) for k in stack.of_type("AWS::CloudWatch::Alarm"))
        if props.get("Namespace") == "AWS/SQS"
        and props.get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["RefreshDeadLetterQueue", "QueueName"]}}]
    ]

    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["Statistic"] == "Maximum" and alarm["EvaluationPeriods"] == 1


@pytest.mark.parametrize("function", ENQUEUERS)
def test_given_a_function_that_enqueues_then_it_knows_the_queue_and_may_only_send_to_it(
    stack: Stack, function
):
    env = stack.props(function)["Environment"]["Variables"]
    sends = [s for s in stack.statements_of(function) if "sqs:SendMessage" in actions_of(s)]

    assert env["REFRESH_QUEUE_URL"] == {"Ref": "RefreshQueue"}
    assert len(sends) == 1
    assert actions_of(sends[0]) == {"sqs:SendMessage"} and as_set(sends[0]["Resource"]) == {repr(QUEUE)}


def test_given_the_other_functions_then_none_may_touch_the_work_queue(stack: Stack):
    for function in set(FUNCTIONS) - set(ENQUEUERS):
        touching = [s for s in stack.statements_of(function) if repr(QUEUE) in as_set(s["Resource"])]
        assert touching == [], function


def test_given_the_event_source_mapping_then_the_refresh_role_allows_exactly_what_lambda_needs_to_poll(
    stack: Stack,
):
    grants = [
        g for g in grants_of(stack, "RefreshFunction") if platform_grant_reason(stack, "RefreshFunction", g)
    ]
    polling = [g for g in grants if g.resources == {"queue/RefreshQueue"}]

    assert event_source_queues(stack, "RefreshFunction") == {"queue/RefreshQueue"}
    assert len(polling) == 1 and polling[0].actions == EVENT_SOURCE_SQS_ACTIONS


def sqs_grant(actions: list[str], queue: str) -> Grant:
    statement = {"Effect": "Allow", "Action": actions, "Resource": {"Fn::GetAtt": [queue, "Arn"]}}
    return Grant.parse(statement, {queue: "AWS::SQS::Queue"})


def test_given_queue_grants_beyond_the_mapping_then_the_behaviour_check_does_not_excuse_them(stack: Stack):
    types = resource_types(stack)
    assert types["RefreshQueue"] == "AWS::SQS::Queue"

    polling = sqs_grant(sorted(EVENT_SOURCE_SQS_ACTIONS), "RefreshQueue")
    more = sqs_grant([*sorted(EVENT_SOURCE_SQS_ACTIONS), "sqs:PurgeQueue"], "RefreshQueue")
    other_queue = sqs_grant(["sqs:ReceiveMessage"], "RefreshDeadLetterQueue")
    sending = sqs_grant(["sqs:SendMessage"], "RefreshQueue")

    assert platform_grant_reason(stack, "RefreshFunction", polling) is not None
    assert platform_grant_reason(stack, "RefreshFunction", more) is None
    assert platform_grant_reason(stack, "RefreshFunction", other_queue) is None
    assert platform_grant_reason(stack, "RefreshFunction", sending) is None  # the code sends: recorded
    assert platform_grant_reason(stack, "ApiFunction", polling) is None  # no mapping of its own
