"""The raw proxy's direct route: which events it serves, and the connection id it reads."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_broker.routes.proxy_gateway import gateway_connection_id

ROUTE = "ANY /v1/connections/{id}/proxy/{path+}"


def event(path: str, *, route: str = ROUTE, stage: str = "$default") -> dict[str, Any]:
    return {"routeKey": route, "rawPath": path, "requestContext": {"stage": stage}}


def test_given_the_raw_proxy_route_when_read_then_the_connection_id_is_the_segment_after_connections():
    assert gateway_connection_id(event("/v1/connections/con_1/proxy/gmail/v1/users/me/profile")) == "con_1"


def test_given_a_named_stage_when_read_then_the_stage_is_not_part_of_the_path():
    assert gateway_connection_id(event("/prod/v1/connections/con_2/proxy/x", stage="prod")) == "con_2"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/connections/con_1/gmail/messages", "POST /v1/connections/{id}/gmail/messages"),
        ("/v1/connections/con_1/test", "POST /v1/connections/{id}/test"),
        ("/v1/connections/con_1/proxy/", ROUTE),
        ("/v1/connections/a/b/proxy/x", ROUTE),
    ],
    ids=["typed_gmail_route", "test_route", "nothing_after_proxy", "id_of_two_segments"],
)
def test_given_another_route_or_a_path_the_raw_route_does_not_match_then_the_resolver_serves_it(
    path: str, route: str
):
    assert gateway_connection_id(event(path, route=route)) is None
