"""Least privilege derived from behaviour: each function's statements in template.yaml allow
exactly the AWS calls the integration suite recorded it making (tests/brokertest/aws_recorder.py,
written to .test-artifacts/aws-calls.json by `make integration`, which `make test` runs first).

Too narrow: a recorded call the function's statements do not allow (it would be refused in AWS).
Too wide: an action, resource, key prefix or KMS purpose a statement allows that no recorded call
of the function uses. Grants that serve AWS itself rather than the function's code are the only
ones exempt, each checked for its exact shape: DynamoDB decrypting the table's key on the
function's behalf (`kms:ViaService` dynamodb), Lambda sending a failed asynchronous invocation
to the function's own on-failure queue (`sqs:SendMessage`, with `kms:ViaService` sqs for its key),
and Lambda's SQS event source mapping polling the queue an `SQS` event of the function names with
the function's role (`EVENT_SOURCE_SQS_ACTIONS`, the actions AWS documents for it, nothing more).

A failure prints, per function, the statements to add or remove and the statements the recording
calls for, so reconciling after a behaviour change is a copy.
"""

from __future__ import annotations

from typing import Any

import pytest

from brokertest.aws_recorder import ARTIFACT, AwsCall, load_recording
from infrastructure.iam_policy import (
    Grant,
    UnsupportedPolicy,
    describe_call,
    describe_element,
    render,
    suggested_statements,
)
from infrastructure.infra_template import FUNCTIONS, Stack

RUN_INTEGRATION = "run `make integration` (make test runs it before the infrastructure checks)"


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    if not ARTIFACT.exists():
        pytest.fail(f"no recording of AWS calls at {ARTIFACT}: {RUN_INTEGRATION}", pytrace=False)
    doc = load_recording()
    if not doc["complete"]:
        pytest.fail(
            f"the recording at {ARTIFACT} is partial ({doc['note']}): {RUN_INTEGRATION}", pytrace=False
        )
    return doc


def calls_of(recording: dict[str, Any], function: str) -> list[AwsCall]:
    return [c for c in recording["calls"] if c.function == function]


def resource_types(stack: Stack) -> dict[str, str]:
    return {k: v["Type"] for k, v in stack.resources.items()}


def grants_of(stack: Stack, function: str) -> list[Grant]:
    types = resource_types(stack)
    return [Grant.parse(s, types) for s in stack.statements_of(function)]


def on_failure_queue(stack: Stack, function: str) -> str | None:
    destination = (
        (stack.props(function).get("EventInvokeConfig") or {}).get("DestinationConfig", {}).get("OnFailure")
    )
    if not destination:
        return None
    return f"queue/{destination['Destination']['Fn::GetAtt'][0]}"


# What Lambda's event source mapping needs on an SQS queue, with the function's execution role
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions).
# The service makes these calls, not the function's code, so no recording can show them.
EVENT_SOURCE_SQS_ACTIONS = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"})


def event_source_queues(stack: Stack, function: str) -> set[str]:
    """The queues the function's `SQS` events (event source mappings) poll, as `queue/<id>`."""
    return {f"queue/{ev['Queue']['Fn::GetAtt'][0]}" for ev in stack.events_of_type(function, "SQS")}


def platform_grant_reason(stack: Stack, function: str, grant: Grant) -> str | None:
    """Why AWS, not the function's code, uses this grant; None when the code must use it."""
    via = grant.via_service or ""
    if (
        "dynamodb." in via
        and grant.actions <= {"kms:Decrypt", "kms:DescribeKey"}
        and grant.resources == {"key"}
    ):
        return "DynamoDB decrypts the table key (customer managed) on the caller's behalf"
    queue = on_failure_queue(stack, function)
    if queue and grant.resources == {queue} and grant.actions == {"sqs:SendMessage"}:
        return "Lambda sends failed asynchronous invocations to the on-failure queue with this role"
    if queue and "sqs." in via and grant.actions <= {"kms:Decrypt", "kms:GenerateDataKey"}:
        return "SQS encrypts the on-failure queue's messages with its key on the sender's behalf"
    polled = event_source_queues(stack, function)
    if polled and grant.resources <= polled and grant.actions <= EVENT_SOURCE_SQS_ACTIONS:
        return "Lambda's event source mapping receives and deletes the queue's messages with this role"
    return None


def reconcile(stack: Stack, function: str, calls: list[AwsCall]) -> tuple[list[str], list[str]]:
    """(recorded calls no statement allows, statement elements no recorded call uses)."""
    grants = grants_of(stack, function)
    code_grants = [g for g in grants if platform_grant_reason(stack, function, g) is None]
    refused = sorted({describe_call(c) for c in calls if not any(g.allows(c) for g in grants)})
    unused = sorted(
        f"{g.sid}: {describe_element(e)}"
        for g in code_grants
        for e in g.elements()
        if not g.element_used(e, calls)
    )
    return refused, unused


def report(function: str, refused: list[str], unused: list[str], calls: list[AwsCall]) -> str:
    lines = [f"{function} in template.yaml does not match its recorded AWS calls ({ARTIFACT.name}):"]
    lines += [f"  ADD (a recorded call is refused): {r}" for r in refused]
    lines += [f"  REMOVE (allowed, never called): {u}" for u in unused]
    lines.append(f"  the recording calls for exactly these statements in {function}'s policy:")
    lines.append(render(suggested_statements(calls)))
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the recording
def test_given_the_recording_when_reading_it_then_every_call_was_made_by_a_known_function(
    recording: dict[str, Any],
) -> None:
    assert recording["unattributed"] == []
    assert {c.function for c in recording["calls"]} <= set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_of_the_template_when_reading_the_recording_then_the_suite_exercised_it(
    recording: dict[str, Any], function: str
) -> None:
    assert calls_of(recording, function), (
        f"the integration suite never made {function} call AWS: its policy cannot be derived from "
        "behaviour, and a path the suite does not exercise would be refused in AWS"
    )


# ------------------------------------------------------------------------------- the template
@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_functions_recorded_calls_when_evaluating_its_policy_then_each_is_allowed_and_each_grant_used(
    stack: Stack, recording: dict[str, Any], function: str
) -> None:
    calls = calls_of(recording, function)

    refused, unused = reconcile(stack, function, calls)

    assert not (refused or unused), report(function, refused, unused, calls)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_table_grants_then_each_names_its_indexes_and_pins_key_prefixes(
    stack: Stack, function: str
) -> None:
    for grant in grants_of(stack, function):
        if any(a.startswith("dynamodb:") for a in grant.actions):
            assert grant.leading_keys, f"{function} {grant.sid}: no dynamodb:LeadingKeys condition"
            assert all(r == "table" or (r.startswith("index/") and "*" not in r) for r in grant.resources), (
                f"{function} {grant.sid}: {sorted(grant.resources)}"
            )


# ------------------------------------------------------------------------------- the check itself
TYPES = {
    "Table": "AWS::DynamoDB::Table",
    "BrokerKey": "AWS::KMS::Key",
    "RefreshFunction": "AWS::Serverless::Function",
}
TABLE = {"Fn::GetAtt": ["Table", "Arn"]}


def statement(actions: list[str], keys: list[str], resource: Any = TABLE) -> dict[str, Any]:
    return {
        "Sid": "T",
        "Effect": "Allow",
        "Action": actions,
        "Resource": resource,
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}},
    }


def item_call(action: str, prefix: str, resource: str = "table") -> AwsCall:
    return AwsCall("F", "dynamodb", action.split(":")[1], action, resource, prefix)


def test_given_a_prefix_pattern_when_evaluating_keys_then_it_allows_its_own_prefix_only() -> None:
    grant = Grant.parse(statement(["dynamodb:GetItem"], ["CON#*", "PENDING"]), TYPES)

    assert grant.allows(item_call("dynamodb:GetItem", "CON#"))
    assert grant.allows(item_call("dynamodb:GetItem", "PENDING"))
    assert not grant.allows(item_call("dynamodb:GetItem", "CONFIRM#"))
    assert not grant.allows(item_call("dynamodb:GetItem", "TENANT#"))
    assert not grant.allows(item_call("dynamodb:PutItem", "CON#"))


def test_given_an_index_query_when_evaluating_then_the_index_resource_and_its_partition_prefix_decide() -> (
    None
):
    grant = Grant.parse(
        statement(["dynamodb:Query"], ["DUE#*"], {"Fn::Sub": "${Table.Arn}/index/ByRefreshDue"}), TYPES
    )

    assert grant.allows(item_call("dynamodb:Query", "DUE#", "index/ByRefreshDue"))
    assert not grant.allows(item_call("dynamodb:Query", "DUE#", "table"))
    assert not grant.allows(item_call("dynamodb:Query", "DUE#", "index/ByOwner"))
    assert not grant.allows(item_call("dynamodb:Query", "TENANT#", "index/ByRefreshDue"))


def test_given_a_kms_grant_when_evaluating_then_the_purpose_and_context_keys_decide() -> None:
    grant = Grant.parse(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": {"Fn::GetAtt": ["BrokerKey", "Arn"]},
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:purpose": ["client_secret"]},
                "ForAllValues:StringEquals": {
                    "kms:EncryptionContextKeys": ["tenant", "record_id", "purpose"]
                },
                "Null": {"kms:EncryptionContext:tenant": "false", "kms:EncryptionContext:record_id": "false"},
            },
        },
        TYPES,
    )
    keys = ("purpose", "record_id", "tenant")

    assert grant.allows(AwsCall("F", "kms", "Decrypt", "kms:Decrypt", "key", "", "client_secret", keys))
    assert not grant.allows(AwsCall("F", "kms", "Decrypt", "kms:Decrypt", "key", "", "refresh_token", keys))
    assert not grant.allows(
        AwsCall("F", "kms", "Decrypt", "kms:Decrypt", "key", "", "client_secret", keys[:2])
    )
    assert not grant.allows(
        AwsCall("F", "kms", "Decrypt", "kms:Decrypt", "key", "", "client_secret", (*keys, "extra"))
    )


def test_given_a_statement_wider_than_the_calls_when_reconciling_then_the_unused_grants_are_named() -> None:
    grant = Grant.parse(statement(["dynamodb:GetItem", "dynamodb:DeleteItem"], ["CS#*", "STATE#*"]), TYPES)
    calls = [item_call("dynamodb:GetItem", "CS#"), item_call("dynamodb:GetItem", "STATE#")]

    unused = [describe_element(e) for e in grant.elements() if not grant.element_used(e, calls)]

    assert unused == [
        "dynamodb:DeleteItem on table for keys CS#*",
        "dynamodb:DeleteItem on table for keys STATE#*",
    ]


def test_given_a_statement_narrower_than_the_calls_when_reconciling_then_the_refused_call_is_named() -> None:
    grant = Grant.parse(statement(["dynamodb:GetItem"], ["CS#*"]), TYPES)
    calls = [item_call("dynamodb:GetItem", "CS#"), item_call("dynamodb:GetItem", "TENANT#")]

    refused = [describe_call(c) for c in calls if not grant.allows(c)]

    assert refused == ["dynamodb:GetItem on table for keys TENANT#"]


def test_given_calls_when_suggesting_statements_then_the_suggestion_allows_them_all_and_nothing_more() -> (
    None
):
    calls = [
        item_call("dynamodb:GetItem", "CS#"),
        item_call("dynamodb:DeleteItem", "CS#"),
        item_call("dynamodb:PutItem", "STATE#"),
        item_call("dynamodb:Query", "TENANT#", "index/ByOwner"),
    ]
    suggested = suggested_statements(calls)
    as_template = [
        statement(
            s["Action"],
            s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
            TABLE
            if s["Resource"] == "!GetAtt Table.Arn"
            else {"Fn::Sub": s["Resource"].removeprefix("!Sub ")},
        )
        for s in suggested
    ]
    grants = [Grant.parse(s, TYPES) for s in as_template]

    assert all(any(g.allows(c) for g in grants) for c in calls)
    assert all(g.element_used(e, calls) for g in grants for e in g.elements())
    assert len(grants) == 3


def test_given_policy_language_the_evaluator_does_not_model_when_parsing_then_it_refuses_to_judge() -> None:
    with pytest.raises(UnsupportedPolicy):
        Grant.parse({**statement(["dynamodb:GetItem"], ["CS#*"]), "Effect": "Deny"}, TYPES)
    with pytest.raises(UnsupportedPolicy):
        Grant.parse(
            {**statement(["dynamodb:GetItem"], ["CS#*"]), "Condition": {"StringLike": {"x": "y"}}}, TYPES
        )
    with pytest.raises(UnsupportedPolicy):
        Grant.parse(statement(["dynamodb:*"], ["CS#*"]), TYPES)
