"""The HTTP API: its authorizer, which routes are public, and which function serves each route.

The route table below is the source of truth the local runtime also reads from the template.
"""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.infra_template import FUNCTIONS, Route, Stack

PUBLIC = {
    "GET /v1/health",
    "GET /v1/openapi.json",
    "GET /v1/oauth/authorize",
    "GET /v1/oauth/callback",
    "POST /v1/google/risc",  # Google's security events: the token's signature is the credential
    "POST /v1/google/gmail-push",  # Gmail push (Pub/Sub): its Google-signed OIDC token is the credential
}

ROUTES: dict[str, set[str]] = {
    "AuthorizerFunction": set(),
    "AuthorizeFunction": {"GET /v1/oauth/authorize"},
    "CallbackFunction": {"GET /v1/oauth/callback", "POST /v1/connect-sessions/confirm"},
    "ApiFunction": {
        "GET /v1/health",
        "GET /v1/openapi.json",
        "GET /v1/settings",
        "PATCH /v1/settings",
        "POST /v1/api-keys",
        "GET /v1/api-keys",
        "GET /v1/audit",
        "GET /v1/revocations",
        "DELETE /v1/api-keys/{id}",
        "GET /v1/providers",
        "POST /v1/providers",
        "PATCH /v1/providers/{key}",
        "POST /v1/oauth-clients",
        "GET /v1/oauth-clients",
        "GET /v1/oauth-clients/{id}",
        "PATCH /v1/oauth-clients/{id}",
        "DELETE /v1/oauth-clients/{id}",
        "POST /v1/connect-sessions",
        "GET /v1/connections",
        "GET /v1/connections/{id}",
        "PATCH /v1/connections/{id}",
        "DELETE /v1/connections/{id}",
        "POST /v1/connections/{id}/refresh",
        "ANY /v1/{proxy+}",
    },
    "ProxyFunction": {
        "ANY /v1/connections/{id}/proxy/{path+}",
        "GET /v1/connections/{id}/gmail/messages",
        "GET /v1/connections/{id}/gmail/messages/{message_id}",
        "POST /v1/connections/{id}/gmail/messages",
        "GET /v1/connections/{id}/contacts",
        "POST /v1/connections/{id}/test",
        "GET /v1/connections/{id}/token",
        "PUT /v1/connections/{id}/gmail/watch",
        "GET /v1/connections/{id}/gmail/watch",
        "DELETE /v1/connections/{id}/gmail/watch",
    },
    "RefreshFunction": set(),
    "WebhookFunction": set(),
    "RiscFunction": {"POST /v1/google/risc"},
    "GmailPushFunction": {"POST /v1/google/gmail-push"},
}


@pytest.fixture(scope="module")
def authorizer(stack: Stack) -> dict[str, Any]:
    auth = stack.props("BrokerApi")["Auth"]
    authorizer: dict[str, Any] = auth["Authorizers"][auth["DefaultAuthorizer"]]
    return authorizer


def all_routes(stack: Stack) -> list[Route]:
    return [route for fn in FUNCTIONS for route in stack.routes_of(fn)]


def test_given_the_template_when_looking_for_http_apis_then_there_is_one_broker_api(stack: Stack) -> None:
    assert list(stack.of_type("AWS::Serverless::HttpApi")) == ["BrokerApi"]
    assert stack.of_type("AWS::Serverless::Api") == {}


def test_given_the_http_api_when_reading_its_auth_then_the_broker_authorizer_is_the_default(
    stack: Stack,
) -> None:
    auth = stack.props("BrokerApi")["Auth"]

    assert auth["DefaultAuthorizer"] == "BrokerAuthorizer"
    assert list(auth["Authorizers"]) == ["BrokerAuthorizer"]


def test_given_the_default_authorizer_when_reading_it_then_it_is_the_authorizer_function(
    authorizer: dict[str, Any],
) -> None:
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}


def test_given_the_default_authorizer_when_reading_its_payload_then_it_is_a_2_0_request_with_simple_responses(
    authorizer: dict[str, Any],
) -> None:
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    # A Lambda authorizer with an Identity block is SAM's REQUEST authorizer; JWT authorizers
    # take a JwtConfiguration instead.
    assert "JwtConfiguration" not in authorizer


def test_given_the_default_authorizer_when_reading_its_identity_then_it_is_the_authorization_header_only(
    authorizer: dict[str, Any],
) -> None:
    identity = authorizer["Identity"]

    assert identity["Headers"] == ["Authorization"]
    assert set(identity) == {"Headers", "ReauthorizeEvery"}


def test_given_the_default_authorizer_when_reading_its_cache_then_the_ttl_is_the_authorizer_cache_parameter(
    stack: Stack, authorizer: dict[str, Any]
) -> None:
    parameter = stack.template["Parameters"]["AuthorizerCacheTtl"]

    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerCacheTtl"}
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (300, 0, 3600)


def test_given_the_default_authorizer_when_api_gateway_calls_it_then_it_has_permission_to(
    authorizer: dict[str, Any],
) -> None:
    assert authorizer["EnableFunctionDefaultPermissions"] is True


def test_given_every_route_when_reading_auth_then_only_health_openapi_oauth_and_google_pushes_are_public(
    stack: Stack,
) -> None:
    assert {route.key for route in all_routes(stack) if route.public} == PUBLIC


def test_given_every_route_when_reading_its_auth_then_a_route_is_either_public_or_left_to_the_default(
    stack: Stack,
) -> None:
    for function, event in stack.http_events():
        assert event.get("Auth") in (None, {"Authorizer": "NONE"}), function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_listing_its_http_routes_then_they_are_exactly_the_ones_it_serves(
    stack: Stack, function: str
) -> None:
    assert {route.key for route in stack.routes_of(function)} == ROUTES[function]


def test_given_every_route_when_comparing_route_keys_then_each_is_served_by_one_function_only(
    stack: Stack,
) -> None:
    keys = [route.key for route in all_routes(stack)]

    assert len(keys) == len(set(keys))


def test_given_every_route_when_reading_its_api_then_it_belongs_to_the_broker_api(stack: Stack) -> None:
    for function, event in stack.http_events():
        assert event["ApiId"] == {"Ref": "BrokerApi"}, function
        assert event.get("PayloadFormatVersion", "2.0") == "2.0", function


def test_given_the_refresh_function_when_reading_its_triggers_then_the_sweep_runs_on_the_sweep_schedule(
    stack: Stack,
) -> None:
    parameter = stack.template["Parameters"]["SweepSchedule"]

    assert [e["Schedule"] for e in stack.events_of_type("RefreshFunction", "Schedule")] == [
        {"Ref": "SweepSchedule"}
    ]
    assert parameter["Default"] == "rate(10 minutes)"


@pytest.fixture(scope="module")
def webhook_rule(stack: Stack) -> dict[str, Any]:
    rules = stack.events_of_type("WebhookFunction", "EventBridgeRule")
    assert len(rules) == 1
    return rules[0]


def test_given_the_webhook_function_when_reading_its_trigger_then_it_gets_broker_events_but_audit_ones(
    webhook_rule: dict[str, Any],
) -> None:
    assert webhook_rule["EventBusName"] == {"Ref": "EventBus"}
    assert webhook_rule["Pattern"] == {
        "source": ["oauth-broker"],
        "detail-type": [{"anything-but": {"prefix": "audit."}}],
    }


def test_given_the_webhook_rule_when_delivery_fails_then_it_retries_and_dead_letters_to_an_encrypted_queue(
    stack: Stack, webhook_rule: dict[str, Any]
) -> None:
    queue_arn = webhook_rule["DeadLetterConfig"]["Arn"]
    queue_id = queue_arn["Fn::GetAtt"][0]

    assert webhook_rule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert stack.resources[queue_id]["Type"] == "AWS::SQS::Queue"
    key_id = stack.props(queue_id)["KmsMasterKeyId"]["Ref"]
    assert stack.resources[key_id]["Type"] == "AWS::KMS::Key"
    assert key_id != "BrokerKey"  # the envelope key serves no other purpose
    assert stack.props(key_id)["EnableKeyRotation"] is True


def test_given_the_webhook_dead_letter_queue_when_eventbridge_sends_to_it_then_only_the_webhook_rule_may(
    stack: Stack,
) -> None:
    (policy,) = [
        p["Properties"]
        for p in stack.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": "WebhookDeadLetterQueue"} in p["Properties"]["Queues"]
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    # SAM names the rule it generates for an EventBridgeRule event <Function><EventName>.
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["WebhookFunctionBrokerEvents", "Arn"]}}
    }
    assert "BrokerEvents" in stack.props("WebhookFunction")["Events"]


@pytest.mark.parametrize(
    "function",
    [
        "AuthorizerFunction",
        "AuthorizeFunction",
        "CallbackFunction",
        "ApiFunction",
        "ProxyFunction",
        "GmailPushFunction",
    ],
)
def test_given_an_http_function_when_listing_its_triggers_then_nothing_but_http_routes_invoke_it(
    stack: Stack, function: str
) -> None:
    events = stack.props(function).get("Events") or {}

    assert {e["Type"] for e in events.values()} <= {"HttpApi"}
