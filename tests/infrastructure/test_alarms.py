"""The alarms in template.yaml: each item of issue 12's list has its alarm, on the right metric
(namespace, name, full dimension set, statistic), with its threshold and comparison, and every
alarm notifies the chosen SNS topic (AlarmTopicArn, or the stack's own encrypted topic) when it
fires and when it clears. The broker's own metrics are the catalogue's (`metrics_catalog`)."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.cloudwatch import MetricUse, alarm_metrics, alarms
from infrastructure.infra_template import FUNCTIONS, Stack, actions_of, as_set
from oauth_broker.metrics_catalog import (
    DEPENDENCIES,
    METRICS,
    NAMESPACE,
    STATUS_CLASSES,
    UPSTREAM_STATUS_CLASSES,
)
from oauth_broker.metrics_catalog import FUNCTIONS as METRIC_FUNCTIONS

TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
STACK = {"Ref": "AWS::StackName"}
ALARM_ARNS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"
DIMENSION_VALUES = {
    "function": set(METRIC_FUNCTIONS),
    "dependency": set(DEPENDENCIES),
    "status_class": set(UPSTREAM_STATUS_CLASSES) | set(STATUS_CLASSES),
}


def parameter(stack: Stack, name: str) -> dict[str, Any]:
    param: dict[str, Any] = stack.template["Parameters"][name]
    return param


def alarms_on(stack: Stack, namespace: str, metric: str, **dimensions: Any) -> dict[str, dict[str, Any]]:
    """The alarms that read `metric` with exactly these dimensions."""
    return {
        logical_id: props
        for logical_id, props in alarms(stack).items()
        if any(
            use.namespace == namespace and use.name == metric and use.dims == dimensions
            for use in alarm_metrics(logical_id, props)
        )
    }


def only_alarm_on(stack: Stack, namespace: str, metric: str, **dimensions: Any) -> dict[str, Any]:
    found = alarms_on(stack, namespace, metric, **dimensions)
    assert len(found) == 1, f"alarms on {namespace} {metric} {dimensions}: {sorted(found)}"
    return next(iter(found.values()))


def queries(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["Id"]: q for q in props["Metrics"]}


def stat_of(query: dict[str, Any]) -> tuple[str, str, int]:
    stat = query["MetricStat"]
    return stat["Metric"]["MetricName"], stat["Stat"], stat["Period"]


def assert_single_metric(props: dict[str, Any], *, statistic: str, period: int, threshold: Any) -> None:
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == (statistic, period, 1)
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == "GreaterThanThreshold"


# ------------------------------------------------------------------ every alarm


def test_given_every_alarm_then_it_notifies_the_chosen_topic_when_it_fires_and_when_it_clears(stack: Stack):
    found = alarms(stack)

    assert len(found) >= 8 + 2 * len(FUNCTIONS)
    for logical_id, props in found.items():
        assert props.get("ActionsEnabled", True) is True, logical_id
        assert props["AlarmActions"] == [TOPIC], logical_id
        assert props["OKActions"] == [TOPIC], logical_id
        assert "InsufficientDataActions" not in props, logical_id


def test_given_every_alarm_then_its_name_starts_with_the_stack_so_the_topic_policies_admit_it(stack: Stack):
    names = [props["AlarmName"] for props in alarms(stack).values()]

    for name in names:
        assert name["Fn::Sub"].startswith("${AWS::StackName}-"), name
    assert len(set(map(repr, names))) == len(names)


def test_given_every_alarm_then_it_says_what_fired_and_what_to_do_first_and_quiet_means_ok(stack: Stack):
    for logical_id, props in alarms(stack).items():
        description = props["AlarmDescription"]
        assert len(description) <= 1024, logical_id  # CloudWatch's limit
        assert "First:" in description, f"{logical_id}: no first step"
        assert props["TreatMissingData"] == "notBreaching", logical_id  # no traffic is no outage


def test_given_no_topic_parameter_then_the_stack_creates_an_encrypted_topic_cloudwatch_may_publish_to(
    stack: Stack,
):
    param = parameter(stack, "AlarmTopicArn")
    key = stack.resources["AlarmTopicKey"]
    topic = stack.resources["AlarmTopic"]
    topic_policy = stack.resources["AlarmTopicPolicy"]
    key_grants = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Sid"] != "AccountAdministers"]
    topic_grants = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    confused_deputy = {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": ALARM_ARNS}},
    }

    assert (param["Type"], param["Default"]) == ("String", "")
    assert stack.template["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert {r["Condition"] for r in (key, topic, topic_policy)} == {"CreateAlarmTopic"}
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert key["Properties"]["EnableKeyRotation"] is True
    # SNS encrypts with the publisher's rights on the key: CloudWatch's, for this stack's alarms only
    assert len(key_grants) == 1
    assert key_grants[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert actions_of(key_grants[0]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert key_grants[0]["Condition"] == confused_deputy
    assert len(topic_grants) == 1
    assert topic_grants[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert actions_of(topic_grants[0]) == {"sns:Publish"}
    assert as_set(topic_grants[0]["Resource"]) == {repr({"Ref": "AlarmTopic"})}
    assert topic_grants[0]["Condition"] == confused_deputy
    assert stack.template["Outputs"]["AlarmTopicArn"]["Value"] == TOPIC


def test_given_a_topic_parameter_then_it_must_be_an_sns_topic_arn_or_empty(stack: Stack):
    import re

    pattern = re.compile(parameter(stack, "AlarmTopicArn")["AllowedPattern"])

    assert pattern.fullmatch("")
    assert pattern.fullmatch("arn:aws:sns:eu-west-1:123456789012:ops-alerts")
    assert pattern.fullmatch("arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops")
    assert not pattern.fullmatch("arn:aws:sqs:eu-west-1:123456789012:ops-alerts")
    assert not pattern.fullmatch("ops-alerts")


@pytest.mark.parametrize(
    ("name", "default", "low", "high"),
    [
        ("ApiErrorRatePercent", 5, 1, 100),
        ("UpstreamErrorRatePercent", 10, 1, 100),
        ("ErrorRateMinRequests", 20, 1, None),
        ("RefreshFailuresThreshold", 10, 0, None),
        ("NeedsReauthPerHourThreshold", 20, 0, None),
        ("WebhookErrorsThreshold", 10, 0, None),
    ],
)
def test_given_a_threshold_an_operator_tunes_then_it_is_a_number_parameter_with_a_sane_default(
    stack: Stack, name, default, low, high
):
    param = parameter(stack, name)

    assert (param["Type"], param["Default"], param["MinValue"]) == ("Number", default, low)
    assert param.get("MaxValue") == high
    assert name in repr(alarms(stack))  # some alarm reads it


def test_given_the_broker_metrics_an_alarm_reads_then_each_is_in_the_catalogue_with_its_full_dimension_set(
    stack: Stack,
):
    uses: list[MetricUse] = [
        use
        for logical_id, props in alarms(stack).items()
        for use in alarm_metrics(logical_id, props)
        if use.namespace == NAMESPACE
    ]

    assert uses
    for use in uses:
        assert use.name in METRICS, use
        assert set(use.dims) == {"service", *METRICS[use.name].dimensions}, use
        assert use.dims["service"] == STACK, use  # the stack's name: POWERTOOLS_SERVICE_NAME
        for dim, value in use.dims.items():
            if dim != "service":
                assert value in DIMENSION_VALUES[dim], use


def test_given_the_functions_then_the_metrics_service_dimension_is_the_stack_name(stack: Stack):
    env = stack.template["Globals"]["Function"]["Environment"]["Variables"]

    assert env["POWERTOOLS_SERVICE_NAME"] == STACK
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE


# ------------------------------------------------------------------ one test per item of the issue


def test_given_the_http_api_then_an_alarm_watches_its_5xx_rate_once_enough_requests_arrived(stack: Stack):
    api = {"ApiId": {"Ref": "BrokerApi"}, "Stage": "$default"}
    props = only_alarm_on(stack, "AWS/ApiGateway", "5xx", **api)
    q = queries(props)
    answering = [k for k, v in q.items() if v.get("ReturnData", True)]

    assert "StageName" not in stack.props("BrokerApi")  # SAM's $default stage is the one measured
    assert stat_of(q["errors"]) == ("5xx", "Sum", 300)
    assert stat_of(q["requests"]) == ("Count", "Sum", 300)
    assert alarms_on(stack, "AWS/ApiGateway", "Count", **api) == alarms_on(
        stack, "AWS/ApiGateway", "5xx", **api
    )
    assert answering == ["rate"]
    assert q["rate"]["Expression"] == {
        "Fn::Sub": "IF(requests >= ${ErrorRateMinRequests}, 100 * errors / requests, 0)"
    }
    assert props["Threshold"] == {"Ref": "ApiErrorRatePercent"}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 2)


def test_given_the_proxy_then_an_alarm_watches_the_upstream_5xx_rate_once_enough_calls_were_made(
    stack: Stack,
):
    props = only_alarm_on(stack, NAMESPACE, "upstream_server_error", service=STACK)
    q = queries(props)

    assert stat_of(q["failing"]) == ("upstream_server_error", "Average", 300)  # 1 per failure, 0 otherwise
    assert stat_of(q["calls"]) == ("upstream_server_error", "SampleCount", 300)  # every call
    assert [k for k, v in q.items() if v.get("ReturnData", True)] == ["rate"]
    assert q["rate"]["Expression"] == {"Fn::Sub": "IF(calls >= ${ErrorRateMinRequests}, 100 * failing, 0)"}
    assert props["Threshold"] == {"Ref": "UpstreamErrorRatePercent"}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 2)


def test_given_token_refreshes_then_an_alarm_fires_on_failures_over_the_threshold_in_15_minutes(stack: Stack):
    props = only_alarm_on(stack, NAMESPACE, "refresh_failed", service=STACK)

    assert_single_metric(props, statistic="Sum", period=900, threshold={"Ref": "RefreshFailuresThreshold"})


def test_given_token_refreshes_then_an_alarm_fires_on_a_needs_reauth_spike_per_hour(stack: Stack):
    props = only_alarm_on(stack, NAMESPACE, "needs_reauth", service=STACK)

    assert_single_metric(
        props, statistic="Sum", period=3600, threshold={"Ref": "NeedsReauthPerHourThreshold"}
    )


@pytest.mark.parametrize("queue", ["WebhookDeadLetterQueue", "RefreshDeadLetterQueue"])
def test_given_a_dead_letter_queue_then_an_alarm_fires_on_its_first_message(stack: Stack, queue):
    props = only_alarm_on(
        stack,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        QueueName={"Fn::GetAtt": [queue, "QueueName"]},
    )

    assert_single_metric(props, statistic="Maximum", period=300, threshold=0)


def test_given_the_dead_letter_queues_then_they_are_where_failed_webhooks_and_refresh_jobs_go(stack: Stack):
    webhook = stack.props("WebhookFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    redrive = stack.props("RefreshQueue")["RedrivePolicy"]

    assert webhook["Destination"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["RefreshDeadLetterQueue", "Arn"]}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_then_an_alarm_fires_on_its_first_throttle(stack: Stack, function):
    props = only_alarm_on(stack, "AWS/Lambda", "Throttles", FunctionName={"Ref": function})

    assert_single_metric(props, statistic="Sum", period=300, threshold=0)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_then_an_alarm_fires_on_its_errors(stack: Stack, function):
    props = only_alarm_on(stack, "AWS/Lambda", "Errors", FunctionName={"Ref": function})
    # a delivery a receiver refuses raises on purpose (Lambda retries it): the webhook's is tuned
    threshold = {"Ref": "WebhookErrorsThreshold"} if function == "WebhookFunction" else 0

    assert_single_metric(props, statistic="Sum", period=300, threshold=threshold)


def test_given_the_table_then_one_alarm_adds_the_throttles_of_the_table_and_of_every_index(stack: Stack):
    table = {"TableName": {"Ref": "Table"}}
    indexes = [i["IndexName"] for i in stack.props("Table")["GlobalSecondaryIndexes"]]
    props = only_alarm_on(stack, "AWS/DynamoDB", "ReadThrottleEvents", **table)
    inputs = {
        (use.name, use.dims.get("GlobalSecondaryIndexName"), use.stat) for use in alarm_metrics("t", props)
    }
    read_by_index = [use for use in alarm_metrics("t", props) if "GlobalSecondaryIndexName" in use.dims]
    expression = [q for q in props["Metrics"] if "Expression" in q]

    # the table's own metric leaves its indexes out: each index is read under its own name
    assert inputs == {
        (metric, index, "Sum")
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        for index in (None, *indexes)
    }
    assert all(use.dims["TableName"] == table["TableName"] for use in read_by_index)
    assert len(expression) == 1 and expression[0]["ReturnData"] is True
    assert expression[0]["Expression"].startswith("SUM([")
    ids = {q["Id"] for q in props["Metrics"] if "MetricStat" in q}
    assert {i.strip() for i in expression[0]["Expression"][5:-2].split(",")} == ids  # every input counted
    assert all(
        q["MetricStat"]["Period"] == 300 and q["ReturnData"] is False
        for q in props["Metrics"]
        if "MetricStat" in q
    )
    assert (props["Threshold"], props["ComparisonOperator"], props["EvaluationPeriods"]) == (
        0,
        "GreaterThanThreshold",
        1,
    )


def test_given_kms_then_an_alarm_fires_on_the_throttles_the_functions_count_since_kms_publishes_none(
    stack: Stack,
):
    props = only_alarm_on(stack, NAMESPACE, "dependency_throttles", service=STACK, dependency="kms")

    assert_single_metric(props, statistic="Sum", period=300, threshold=0)
    assert "KMS publishes no throttle metric" in props["AlarmDescription"]


def test_given_the_alarms_then_they_are_exactly_the_issue_list(stack: Stack):
    read = {
        (use.namespace, use.name)
        for logical_id, props in alarms(stack).items()
        for use in alarm_metrics(logical_id, props)
    }

    assert read == {
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Count"),
        (NAMESPACE, "upstream_server_error"),
        (NAMESPACE, "refresh_failed"),
        (NAMESPACE, "needs_reauth"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Errors"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        (NAMESPACE, "dependency_throttles"),
    }
