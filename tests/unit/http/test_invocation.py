"""The invocation a route serves: its event, caller, query and time left, bound per request."""

from __future__ import annotations

import threading

import pytest

from brokertest.tokens import FakeClock
from oauth_broker.http.invocation import (
    RESPONSE_MARGIN_SECONDS,
    Invocation,
    bind_invocation,
    current_invocation,
)

EVENT = {
    "rawPath": "/v1/connections/con_1/proxy/gmail/v1/users/me/profile",
    "rawQueryString": "a=1",
    "headers": {"Idempotency-Key": "k1", "content-type": "application/json"},
    "pathParameters": {"id": "con_1", "path": "gmail/v1/users/me/profile"},
    "requestContext": {
        "http": {"method": "post"},
        "authorizer": {"lambda": {"tenant": "acme", "user": "alice", "is_admin": False, "via": "jwt"}},
    },
}


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_given_an_event_when_read_then_method_path_query_headers_and_parameters_come_from_it():
    invocation = Invocation(EVENT)

    assert invocation.method == "POST"
    assert invocation.raw_path == EVENT["rawPath"] and invocation.raw_query == "a=1"
    assert invocation.header("idempotency-key") == "k1" and invocation.header("IDEMPOTENCY-KEY") == "k1"
    assert invocation.path_parameter("path") == "gmail/v1/users/me/profile"
    assert invocation.principal().user == "alice"


def test_given_a_lambda_context_when_the_deadline_is_taken_then_it_keeps_a_margin_for_the_response():
    clock = FakeClock()

    deadline = Invocation(EVENT, Context(10_000)).deadline(clock)

    assert deadline == pytest.approx(clock.monotonic() + 10 - RESPONSE_MARGIN_SECONDS)


def test_given_no_lambda_context_when_the_deadline_is_taken_then_29_seconds_are_assumed():
    clock = FakeClock()

    assert Invocation(EVENT).deadline(clock) == pytest.approx(
        clock.monotonic() + 29 - RESPONSE_MARGIN_SECONDS
    )


def test_given_two_threads_when_each_binds_its_event_then_each_sees_its_own():
    seen: dict[str, str | None] = {}
    barrier = threading.Barrier(2)

    def serve(user: str) -> None:
        event = {
            **EVENT,
            "requestContext": {
                **EVENT["requestContext"],
                "authorizer": {"lambda": {"tenant": "acme", "user": user, "is_admin": False, "via": "jwt"}},
            },
        }
        with bind_invocation(event, None):
            barrier.wait()
            seen[user] = current_invocation().principal().user

    threads = [threading.Thread(target=serve, args=(user,)) for user in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {"alice": "alice", "bob": "bob"}


def test_given_no_bound_invocation_and_no_router_when_asked_then_it_is_an_error():
    with pytest.raises(RuntimeError):
        current_invocation()


def test_given_an_event_when_its_query_and_domain_are_read_then_they_come_from_it():
    event = {
        **EVENT,
        "queryStringParameters": {"session": "cs_1", "scope": "a,b"},
        "requestContext": {**EVENT["requestContext"], "domainName": "broker.example.com"},
    }
    invocation = Invocation(event)

    assert invocation.query("session") == "cs_1" and invocation.query("missing") is None
    assert invocation.query_params() == {"session": "cs_1", "scope": "a,b"}
    assert invocation.domain_name == "broker.example.com"
    assert Invocation(EVENT).query_params() == {} and Invocation(EVENT).domain_name is None


def test_given_a_lambda_context_or_none_when_its_remaining_time_is_read_then_none_means_unknown():
    assert Invocation(EVENT, Context(1234)).lambda_remaining_ms() == 1234
    assert Invocation(EVENT).lambda_remaining_ms() is None
