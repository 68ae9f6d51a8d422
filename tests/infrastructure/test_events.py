"""The saved events in events/ (for `sam local invoke -e` and `oauth-broker invoke`) fit the template."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infrastructure.infra_template import REPO_ROOT, Stack

EVENTS_DIR = REPO_ROOT / "events"

HTTP_EVENTS = {  # file -> the function it is for
    "authorize.json": "AuthorizeFunction",
    "callback.json": "CallbackFunction",
    "api.json": "ApiFunction",
    "api-settings.json": "ApiFunction",
    "proxy.json": "ProxyFunction",
}
AUTHORIZED_HTTP_EVENTS = ("api-settings.json", "proxy.json")


def route_keys(stack: Stack, *, public: bool) -> set[str]:
    return {r.key for fn in set(HTTP_EVENTS.values()) for r in stack.routes_of(fn) if r.public is public}


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


def path_pattern(route_path: str) -> re.Pattern[str]:
    """/v1/connections/{id}/proxy/{path+} -> a regex matching concrete paths."""
    pattern = re.sub(r"\\\{[^/]+?\\\+\\\}", ".+", re.escape(route_path))
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern) + "$")


def test_given_the_events_directory_when_listing_it_then_every_function_has_a_saved_event() -> None:
    names = {p.name for p in EVENTS_DIR.glob("*.json")}

    assert names >= {
        "authorizer.json",
        "authorize.json",
        "callback.json",
        "api.json",
        "api-settings.json",
        "proxy.json",
        "refresh.json",
        "webhook.json",
    }


@pytest.mark.parametrize(("name", "function"), sorted(HTTP_EVENTS.items()))
def test_given_a_saved_http_event_when_reading_its_route_then_the_template_routes_it_to_its_function(
    stack: Stack, name: str, function: str
) -> None:
    event = load(name)

    assert event["routeKey"] in {route.key for route in stack.routes_of(function)}
    assert event["requestContext"]["routeKey"] == event["routeKey"]


@pytest.mark.parametrize("name", sorted(HTTP_EVENTS))
def test_given_a_saved_http_event_when_reading_it_then_it_is_a_payload_2_0_request_on_the_default_stage(
    name: str,
) -> None:
    event = load(name)
    method, route_path = event["routeKey"].split(" ", 1)
    http = event["requestContext"]["http"]

    assert event["version"] == "2.0"
    assert event["requestContext"]["stage"] == "$default"
    assert method in (http["method"], "ANY")
    assert http["path"] == event["rawPath"]
    assert path_pattern(route_path).match(event["rawPath"])
    assert {"rawQueryString", "headers"} <= set(event)
    assert {"domainName", "requestId"} <= set(event["requestContext"])
    assert http["sourceIp"]


@pytest.mark.parametrize("name", sorted(set(HTTP_EVENTS) - set(AUTHORIZED_HTTP_EVENTS)))
def test_given_a_saved_event_of_a_public_route_when_reading_it_then_it_carries_no_principal(
    stack: Stack, name: str
) -> None:
    event = load(name)
    public = route_keys(stack, public=True)

    assert event["routeKey"] in public
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("name", AUTHORIZED_HTTP_EVENTS)
def test_given_a_saved_event_of_an_authorized_route_when_reading_it_then_it_carries_the_authorizer_context(
    stack: Stack, name: str
) -> None:
    event = load(name)
    authorized = route_keys(stack, public=False)

    assert event["routeKey"] in authorized
    assert event["requestContext"]["authorizer"]["lambda"] == {
        "tenant": "acme",
        "user": "alice",
        "is_admin": True,
        "via": "jwt",
        "key_id": "",
    }


def test_given_the_saved_authorizer_event_when_reading_it_then_it_is_a_2_0_request_with_the_bearer_header(
    stack: Stack,
) -> None:
    event = load("authorizer.json")
    authorized = route_keys(stack, public=False)

    assert (event["version"], event["type"]) == ("2.0", "REQUEST")
    assert event["headers"]["authorization"] == "Bearer REPLACE_WITH_DEV_TOKEN"
    assert event["identitySource"] == ["Bearer REPLACE_WITH_DEV_TOKEN"]
    assert event["routeKey"] in authorized
    assert event["routeArn"].endswith("/$default/" + event["routeKey"].replace(" ", ""))


def test_given_the_saved_refresh_event_when_reading_it_then_it_is_an_eventbridge_scheduled_event() -> None:
    event = load("refresh.json")

    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert event["resources"] and event["resources"][0].startswith("arn:aws:events:")


def test_given_the_saved_webhook_event_when_matched_against_the_webhook_rule_then_it_is_delivered(
    stack: Stack,
) -> None:
    event = load("webhook.json")
    (rule,) = stack.events_of_type("WebhookFunction", "EventBridgeRule")

    assert event["source"] in rule["Pattern"]["source"]
    assert event["detail-type"] == "connection.created"
    assert event["detail"]["type"] == event["detail-type"]
    assert {"connection_id": "con_x", "tenant": "acme", "status": "active"}.items() <= event["detail"][
        "connection"
    ].items()


def test_given_the_saved_webhook_event_when_compared_with_the_publisher_then_it_has_the_published_shape() -> (
    None
):
    from oauth_broker.events.publisher import DETAIL_FIELDS

    detail = load("webhook.json")["detail"]
    assert set(detail) >= {"event_id", "type", "occurred_at", "tenant", "connection"}
    expected = {"connection_id" if f == "id" else f for f in DETAIL_FIELDS}
    assert set(detail["connection"]) == expected
