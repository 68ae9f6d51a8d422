"""`actor_of`: who an audit record names, read from the authorizer's context and the request, and
never an exception (an audit record must not fail the request it records)."""

from __future__ import annotations

import pytest

from oauth_broker.audit import Actor
from oauth_broker.http.audited import AuditedRoute, actor_of, audited


def event(context: dict, headers: dict | None = None, http: dict | None = None) -> dict:
    return {
        "headers": headers or {},
        "requestContext": {"authorizer": {"lambda": context}, "http": http or {}},
    }


def test_given_a_jwt_caller_then_the_actor_is_the_user_with_ip_and_user_agent():
    tenant, actor = actor_of(
        event(
            {"tenant": "acme", "user": "alice", "via": "jwt", "is_admin": True},
            http={"sourceIp": "203.0.113.9", "userAgent": "curl/8.5"},
        )
    )
    assert tenant == "acme"
    assert actor == Actor("user", "alice", ip="203.0.113.9", user_agent="curl/8.5")


def test_given_an_api_key_acting_for_a_user_then_the_actor_is_the_key_and_names_the_user():
    tenant, actor = actor_of(
        event(
            {"tenant": "acme", "user": "apikey:key_1", "via": "api_key", "key_id": "key_1"},
            headers={"X-On-Behalf-Of": "bob"},
        )
    )
    assert (tenant, actor.type, actor.id, actor.on_behalf_of) == ("acme", "api_key", "key_1", "bob")


def test_given_a_jwt_with_an_on_behalf_of_header_then_it_is_not_taken_as_the_actor():
    _, actor = actor_of(
        event({"tenant": "acme", "user": "alice", "via": "jwt"}, headers={"x-on-behalf-of": "bob"})
    )
    assert actor.on_behalf_of is None and actor.id == "alice"


def test_given_no_authorizer_context_then_no_tenant_and_no_exception():
    tenant, actor = actor_of({})
    assert tenant is None and actor.type == "user"


def test_given_an_unknown_action_when_a_route_is_audited_then_it_fails_at_import_time():
    with pytest.raises(ValueError):
        audited("connection.teleported", resource="connection")
    assert isinstance(audited("api_key.created", resource="api_key"), AuditedRoute)
