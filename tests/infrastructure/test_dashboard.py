"""The CloudWatch dashboard in template.yaml: a valid body once CloudFormation substitutes it, every
broker metric it shows is the catalogue's (name and full dimension set), every catalogue metric is
on it, and it shows the AWS metrics an operator needs beside them (API Gateway, Lambda, the queues,
DynamoDB) and the state of every alarm."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.cloudwatch import (
    REGION,
    STACK_NAME,
    alarms,
    dashboard_body,
    dashboard_metrics,
    sub_references,
    substituted,
)
from infrastructure.infra_template import FUNCTIONS, Stack
from oauth_broker.metrics_catalog import (
    DEPENDENCIES,
    METRICS,
    NAMESPACE,
    OUTCOMES,
    STATUS_CLASSES,
    UPSTREAM_STATUS_CLASSES,
)
from oauth_broker.metrics_catalog import FUNCTIONS as METRIC_FUNCTIONS

PSEUDO = {"AWS::StackName", "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}
ALLOWED_VALUES = {
    "function": set(METRIC_FUNCTIONS),
    "dependency": set(DEPENDENCIES),
    "status_class": set(UPSTREAM_STATUS_CLASSES) | set(STATUS_CLASSES),
}


@pytest.fixture(scope="module")
def body(stack: Stack) -> dict[str, Any]:
    return dashboard_body(stack)


def test_given_the_dashboard_then_it_is_one_per_stack_and_region_and_the_stack_outputs_where_it_is(
    stack: Stack,
):
    (logical_id, dashboard) = stack.only("AWS::CloudWatch::Dashboard")
    outputs = stack.template["Outputs"]

    assert logical_id == "BrokerDashboard"
    # dashboard names are global to the account: the region keeps two regions' stacks apart
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "BrokerDashboard"}
    assert "#dashboards/dashboard/${BrokerDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_given_the_dashboard_body_then_every_reference_resolves_and_it_is_json_once_substituted(stack: Stack):
    sub = stack.props("BrokerDashboard")["DashboardBody"]
    known = set(stack.resources) | set(stack.template["Parameters"]) | PSEUDO
    text = substituted(sub)

    for ref in sub_references(sub):
        assert ref.split(".")[0] in known, f"${{{ref}}} names nothing in the template"
    assert isinstance(dashboard_body(stack)["widgets"], list)
    assert "${" not in text


def test_given_every_widget_then_it_fits_the_24_column_grid_and_names_its_region(body: dict[str, Any]):
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget
        assert widget["height"] >= 1
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == REGION
            assert widget["properties"]["title"]


def test_given_the_broker_metrics_on_the_dashboard_then_each_is_in_the_catalogue_with_its_full_dimension_set(
    stack: Stack,
):
    uses = [use for use in dashboard_metrics(stack) if use.namespace == NAMESPACE]

    assert uses
    for use in uses:
        assert use.name in METRICS, use
        assert set(use.dims) == {"service", *METRICS[use.name].dimensions}, use
        assert use.dims["service"] == STACK_NAME, use  # this stack's metrics only
        for dim, value in use.dims.items():
            if dim != "service" and value is not None:  # None: a SEARCH over every value
                allowed = OUTCOMES[use.name] if dim == "outcome" else ALLOWED_VALUES[dim]
                assert value in allowed, use


def test_given_the_catalogue_then_every_metric_the_broker_publishes_is_on_the_dashboard(stack: Stack):
    shown = {use.name for use in dashboard_metrics(stack) if use.namespace == NAMESPACE}

    assert set(METRICS) - shown == set()


def test_given_the_requests_then_the_dashboard_shows_them_by_status_class_and_by_function(stack: Stack):
    requests = [use for use in dashboard_metrics(stack) if use.name == "requests"]
    by_class = {use.dims["status_class"] for use in requests if use.dims["function"] is None}
    by_function = {use.dims["function"] for use in requests if use.dims["status_class"] is None}

    assert by_class == set(STATUS_CLASSES)
    assert by_function and by_function <= set(METRIC_FUNCTIONS)


@pytest.mark.parametrize("stat", ["p50", "p99"])
def test_given_the_latency_then_the_dashboard_shows_its_percentile(stack: Stack, stat):
    assert any(use.name == "latency" and use.stat == stat for use in dashboard_metrics(stack))
    assert any(use.name == "upstream_latency" and use.stat == stat for use in dashboard_metrics(stack))


def test_given_the_proxy_then_every_upstream_status_class_is_on_the_dashboard(stack: Stack):
    shown = {use.dims["status_class"] for use in dashboard_metrics(stack) if use.name == "upstream_requests"}

    assert shown == set(UPSTREAM_STATUS_CLASSES)


BY_OUTCOME = sorted(name for name, spec in METRICS.items() if "outcome" in spec.dimensions)


def test_given_the_catalogue_then_each_metric_counted_by_outcome_lists_its_outcomes():
    assert BY_OUTCOME == sorted(OUTCOMES) == ["gmail_pushes", "gmail_watch_renewals"]


@pytest.mark.parametrize("name", BY_OUTCOME)
def test_given_a_metric_counted_by_outcome_then_the_dashboard_shows_each_of_its_outcomes(stack: Stack, name):
    shown = {use.dims["outcome"] for use in dashboard_metrics(stack) if use.name == name}

    assert shown == set(OUTCOMES[name])


def test_given_the_throttles_the_functions_count_then_every_dependency_is_on_the_dashboard(stack: Stack):
    shown = {use.dims["dependency"] for use in dashboard_metrics(stack) if use.name == "dependency_throttles"}

    assert shown == set(DEPENDENCIES)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_then_the_dashboard_shows_its_lambda_errors_throttles_and_duration(
    stack: Stack, function
):
    shown = {
        (use.name, use.stat)
        for use in dashboard_metrics(stack)
        if use.namespace == "AWS/Lambda" and use.dims == {"FunctionName": f"<{function}>"}
    }

    assert {name for name, _ in shown} == {"Errors", "Throttles", "Duration"}
    assert ("Duration", "p99") in shown


def test_given_the_queues_then_the_dashboard_shows_both_dead_letter_depths_and_the_work_queue(stack: Stack):
    depths = {
        use.dims["QueueName"]
        for use in dashboard_metrics(stack)
        if use.namespace == "AWS/SQS" and use.name == "ApproximateNumberOfMessagesVisible"
    }

    assert depths == {
        "<WebhookDeadLetterQueue.QueueName>",
        "<RefreshDeadLetterQueue.QueueName>",
        "<RefreshQueue.QueueName>",
    }


def test_given_the_table_then_the_dashboard_shows_the_throttles_of_the_table_and_every_index(stack: Stack):
    indexes = {i["IndexName"] for i in stack.props("Table")["GlobalSecondaryIndexes"]}
    shown = {
        (use.name, use.dims.get("GlobalSecondaryIndexName"))
        for use in dashboard_metrics(stack)
        if use.namespace == "AWS/DynamoDB" and use.dims["TableName"] == "<Table>"
    }

    assert shown == {
        (metric, index)
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        for index in {None, *indexes}
    }


def test_given_the_http_api_then_the_dashboard_shows_its_requests_and_errors(stack: Stack):
    shown = {
        use.name
        for use in dashboard_metrics(stack)
        if use.namespace == "AWS/ApiGateway" and use.dims == {"ApiId": "<BrokerApi>", "Stage": "$default"}
    }

    assert shown == {"Count", "4xx", "5xx"}


def test_given_the_alarms_then_the_dashboard_shows_the_state_of_every_one(stack: Stack, body: dict[str, Any]):
    widgets = [w for w in body["widgets"] if w["type"] == "alarm"]

    assert len(widgets) == 1
    assert sorted(widgets[0]["properties"]["alarms"]) == sorted(f"<{a}.Arn>" for a in alarms(stack))
    assert widgets[0]["y"] == 0  # first thing on the page
