"""The HTTP API's access logs: a log group with a retention the operator picks, and a format that is
one JSON object per request and carries no secret. The OAuth callback's and authorize's query
strings carry codes, states and session tokens, and the Authorization header a JWT or an API key:
no variable that could hold them may appear. The variables used are the ones AWS documents for
HTTP APIs ("Customize HTTP API access logs")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infrastructure.infra_template import Stack

VARIABLE = re.compile(r"\$(?:context|request|stageVariables)\.[A-Za-z0-9_.-]+|\$input\b")

# Every variable the format may use, and why it is safe. A new one is a reviewed change here.
ALLOWED = {
    "$context.requestId": "API Gateway's id of the request",
    "$context.requestTime": "when",
    "$context.requestTimeEpoch": "when, for queries",
    "$context.identity.sourceIp": "the TCP peer's address (not a header)",
    "$context.protocol": "HTTP/1.1 or HTTP/2",
    "$context.httpMethod": "the method",
    "$context.routeKey": "the route template (GET /v1/connections/{id}): no id, no query",
    "$context.status": "the status answered",
    "$context.responseLength": "bytes answered",
    "$context.responseLatency": "ms",
    "$context.integrationLatency": "ms in the function",
    "$context.integrationStatus": "Lambda's own status (throttles, crashes)",
    "$context.authorizer.tenant": "the tenant the authorizer resolved (not a secret)",
    "$context.authorizer.via": "jwt or api_key",
    "$context.authorizer.error": "API Gateway's authorizer failure message",
    "$context.error.responseType": "the gateway response type (THROTTLED, AUTHORIZER_FAILURE...)",
    "$context.integrationErrorMessage": "API Gateway's integration failure message",
}

# Could carry a code, a state, a session or bearer token, a key or a caller-written string.
FORBIDDEN = re.compile(
    r"\$request\.|\$input|\$stageVariables|\$context\.requestOverride|\$context\.responseOverride"
    r"|\$context\.path|\$context\.identity\.userAgent|\$context\.authorizer\.(claims|principalId|key_id|user)"
    r"|\$context\.identity\.clientCert|querystring|header",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def settings(stack: Stack) -> dict[str, Any]:
    access: dict[str, Any] = stack.props("BrokerApi")["AccessLogSettings"]
    return access


@pytest.fixture(scope="module")
def log_format(settings: dict[str, Any]) -> str:
    fmt = settings["Format"]
    assert isinstance(fmt, str), "the format is a literal: no !Sub can slip a variable in"
    return fmt


def logged(log_format: str, values: dict[str, str]) -> dict[str, Any]:
    """The log line API Gateway writes when each variable has the given value."""
    line = VARIABLE.sub(lambda m: values.get(m.group(0), "-"), log_format)
    pairs: list[tuple[str, Any]] = []
    parsed = json.loads(line, object_pairs_hook=lambda p: pairs.extend(p) or dict(p))
    assert len({k for k, _ in pairs}) == len(pairs), "a field is written twice"
    assert isinstance(parsed, dict)
    return parsed


def test_given_the_http_api_then_it_logs_every_request_to_the_access_log_group(stack: Stack, settings):
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert stack.resources["ApiAccessLogs"]["Type"] == "AWS::Logs::LogGroup"


def test_given_the_access_log_group_then_its_retention_is_a_parameter_of_cloudwatch_values_30_days_by_default(
    stack: Stack,
):
    param = stack.template["Parameters"]["AccessLogRetentionDays"]
    cloudwatch_values = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731]
    cloudwatch_values += [1096, 1827, 2192, 2557, 2922, 3288, 3653]

    assert stack.props("ApiAccessLogs")["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert (param["Type"], param["Default"]) == ("Number", 30)
    assert param["AllowedValues"] == cloudwatch_values  # what RetentionInDays accepts


def test_given_the_format_then_it_uses_only_reviewed_variables(log_format: str):
    used = set(VARIABLE.findall(log_format))

    assert used - set(ALLOWED) == set()
    assert {
        "$context.requestId",
        "$context.routeKey",
        "$context.status",
        "$context.identity.sourceIp",
    } <= used


def test_given_the_format_then_no_query_string_path_header_or_authorization_can_reach_the_log(
    log_format: str,
):
    assert FORBIDDEN.findall(log_format) == []
    assert "authorization" not in log_format.lower()


def test_given_the_format_when_api_gateway_fills_it_then_each_request_is_one_json_object(log_format: str):
    entry = logged(
        log_format,
        {
            "$context.requestId": "Kx1abc=",
            "$context.routeKey": "GET /v1/oauth/callback",
            "$context.status": "302",
            "$context.identity.sourceIp": "203.0.113.7",
            "$context.authorizer.tenant": "acme",
        },
    )

    assert entry["requestId"] == "Kx1abc="
    assert entry["routeKey"] == "GET /v1/oauth/callback"
    assert entry["status"] == "302"
    assert entry["ip"] == "203.0.113.7"
    assert entry["tenant"] == "acme"
    assert "\n" not in log_format  # a folded YAML scalar: one line


def test_given_an_empty_variable_then_the_line_is_still_json(log_format: str):
    # API Gateway writes "-" for a variable without a value (no authorizer, no error): every value
    # is quoted, so the line parses whatever is missing
    entry = logged(log_format, {})

    assert set(entry.values()) == {"-"}
    assert all(f'"{v}"' in log_format for v in VARIABLE.findall(log_format))
