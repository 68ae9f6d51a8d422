"""The audit trail through the real handlers: every audited action leaves exactly one record (when
it succeeds and when it fails), with the actor (a user, an API key and the user it acts for, the
broker itself), the request's IP and user agent; `audit.<action>` goes on the bus; GET /v1/audit
shows a tenant admin its own tenant's records and nothing of another's."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from brokertest.connect import allow_return_origins, confirm, create_oauth_client, run_flow
from brokertest.tokens import AwsCallCounter
from oauth_broker.connect.confirmation import discard_expired
from oauth_broker.store.audit import AuditFilter, AuditStore

UA = {"User-Agent": "audit-test/1.0"}


def trail(world, tenant: str = "acme") -> list[dict[str, Any]]:
    records, _ = AuditStore(world.services.table).list(tenant, AuditFilter(), limit=100)
    return records


def the_record(world, action: str, tenant: str = "acme") -> dict[str, Any]:
    matching = [r for r in trail(world, tenant) if r["action"] == action]
    assert len(matching) == 1, [r["action"] for r in trail(world, tenant)]
    return matching[0]


def admin(world, tenant: str = "acme") -> str:
    return world.token(tenant, "alice", admin=True)


def new_api_key(world, tenant: str = "acme") -> dict[str, Any]:
    resp = world.request("POST", "/v1/api-keys", token=admin(world, tenant), json_body={"name": "backend"})
    assert resp.status_code == 201
    return dict(resp.json)


# -- admin actions ------------------------------------------------------------------------------------
def test_given_an_admin_when_creating_an_api_key_then_one_record_names_the_user_ip_agent_and_new_key(world):
    put_events = AwsCallCounter(world.aws.events)
    resp = world.request(
        "POST", "/v1/api-keys", token=admin(world), headers=UA, json_body={"name": "backend"}
    )
    assert resp.status_code == 201
    assert len(trail(world)) == 1
    record = the_record(world, "api_key.created")
    assert record["outcome"] == "succeeded" and record["status"] == 201 and "code" not in record
    assert record["actor"] == {
        "type": "user",
        "id": "alice",
        "ip": "127.0.0.1",
        "user_agent": "audit-test/1.0",
    }
    assert record["resource"] == {"type": "api_key", "id": resp.json["id"]}
    assert record["id"].startswith("aud_") and record["tenant"] == "acme"
    assert resp.json["key"] not in json.dumps(trail(world))
    bodies = [json.loads(p["body"]) for op, p in put_events.params if op == "PutEvents"]
    entries = [e for body in bodies for e in body["Entries"]]
    audit_entries = [e for e in entries if e["DetailType"] == "audit.api_key.created"]
    assert len(audit_entries) == 1
    assert audit_entries[0]["Source"] == "oauth-broker"
    assert json.loads(audit_entries[0]["Detail"])["audit"]["id"] == record["id"]


def test_given_a_non_admin_when_creating_an_api_key_then_one_failed_record_with_403_forbidden(world):
    resp = world.request("POST", "/v1/api-keys", token=world.token("acme", "bob"), json_body={"name": "x"})
    assert resp.status_code == 403
    record = the_record(world, "api_key.created")
    assert (record["outcome"], record["status"], record["code"]) == ("failed", 403, "forbidden")
    assert record["actor"]["id"] == "bob" and record["resource"] == {"type": "api_key"}


def test_given_a_body_refused_before_the_route_when_creating_a_key_then_one_failed_422_record(world):
    resp = world.request("POST", "/v1/api-keys", token=admin(world), json_body={"name": "x", "extra": 1})
    assert resp.status_code == 422
    assert [(r["action"], r["outcome"], r["code"]) for r in trail(world)] == [
        ("api_key.created", "failed", "validation_error")
    ]


def test_given_an_api_key_when_it_deletes_another_then_the_record_names_the_key_not_a_user(world):
    caller, other = new_api_key(world), new_api_key(world)
    resp = world.request("DELETE", f"/v1/api-keys/{other['id']}", token=caller["key"])
    assert resp.status_code == 204
    record = the_record(world, "api_key.deleted")
    assert record["outcome"] == "succeeded"
    assert record["actor"]["type"] == "api_key" and record["actor"]["id"] == caller["id"]
    assert record["resource"] == {"type": "api_key", "id": other["id"]}


def test_given_an_api_key_acting_for_a_user_when_deleting_a_key_then_the_failed_record_names_both(world):
    caller = new_api_key(world)
    resp = world.request(
        "DELETE", f"/v1/api-keys/{caller['id']}", token=caller["key"], headers={"X-On-Behalf-Of": "bob"}
    )
    assert resp.status_code == 403
    record = the_record(world, "api_key.deleted")
    assert (record["outcome"], record["code"]) == ("failed", "forbidden")
    assert record["actor"]["type"] == "api_key"
    assert (record["actor"]["id"], record["actor"]["on_behalf_of"]) == (caller["id"], "bob")


def test_given_an_unknown_key_when_deleted_then_one_failed_404_record(world):
    resp = world.request("DELETE", "/v1/api-keys/key_nope", token=admin(world))
    assert resp.status_code == 404
    record = the_record(world, "api_key.deleted")
    assert (record["outcome"], record["status"], record["code"]) == ("failed", 404, "not_found")
    assert record["resource"] == {"type": "api_key", "id": "key_nope"}


def test_given_settings_changed_then_the_record_names_the_fields_but_never_the_secret(world):
    secret = "whsec-audit-0123456789-SECRET"
    body = {"webhook_secret": secret, "expose_access_tokens": True}
    assert world.request("PATCH", "/v1/settings", token=admin(world), json_body=body).status_code == 200
    record = the_record(world, "settings.updated")
    assert record["outcome"] == "succeeded"
    assert record["details"] == {
        "fields": ["expose_access_tokens", "webhook_secret"],
        "expose_access_tokens": True,
    }
    assert secret not in json.dumps(record)


def test_given_oauth_client_changes_then_each_leaves_one_record_with_its_id(world):
    client = create_oauth_client(world)
    ocl = client["id"]
    patch = world.request(
        "PATCH",
        f"/v1/oauth-clients/{ocl}",
        token=admin(world),
        json_body={"client_secret": "rotated-secret-1"},
    )
    assert patch.status_code == 200
    assert world.request("DELETE", f"/v1/oauth-clients/{ocl}", token=admin(world)).status_code == 204
    assert world.request("DELETE", f"/v1/oauth-clients/{ocl}", token=admin(world)).status_code == 404
    records = list(reversed(trail(world)))
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("oauth_client.created", "succeeded"),
        ("oauth_client.updated", "succeeded"),
        ("oauth_client.deleted", "succeeded"),
        ("oauth_client.deleted", "failed"),
    ]
    assert {r["resource"]["id"] for r in records} == {ocl}
    assert records[1]["details"] == {"fields": ["client_secret"]}
    assert "rotated-secret-1" not in json.dumps(records)


def test_given_a_bad_custom_provider_when_registered_then_one_failed_record(world):
    resp = world.request("POST", "/v1/providers", token=admin(world), json_body={"key": "nope"})
    assert resp.status_code == 422
    record = the_record(world, "provider.registered")
    assert (record["outcome"], record["code"]) == ("failed", "validation_error")


# -- connections ------------------------------------------------------------------------------------
@pytest.fixture
def cw(google_world):
    world, fake = google_world
    allow_return_origins(world)
    client = create_oauth_client(world)
    return world, fake, client["id"]


def test_given_a_confirmed_flow_then_one_confirmation_record_names_the_connection(cw):
    world, fake, ocl = cw
    flow = run_flow(world, fake, ocl, scopes=["email"])
    assert flow.confirmed is not None
    record = the_record(world, "connection.confirmed")
    assert record["outcome"] == "succeeded" and record["actor"]["id"] == "alice"
    assert record["resource"] == {"type": "connection", "id": flow.confirmed.json["id"]}
    assert record["details"]["kind"] == "create"
    assert flow.result["confirmation"] not in json.dumps(trail(world))


def test_given_another_user_presenting_a_confirmation_then_a_failed_record_and_a_system_discard(cw):
    world, fake, ocl = cw
    flow = run_flow(world, fake, ocl, scopes=["email"], confirmed=False)
    assert confirm(world, flow.result["confirmation"], user="mallory").status_code == 404
    failed = the_record(world, "connection.confirmed")
    assert (failed["outcome"], failed["actor"]["id"], failed["code"]) == ("failed", "mallory", "not_found")
    assert "id" not in failed["resource"]  # the caller may not see it: its record names no connection
    discarded = the_record(world, "connection.discarded")
    assert discarded["actor"] == {"type": "system", "id": "oauth-broker"}
    assert discarded["resource"]["id"] == flow.connection_id
    assert discarded["details"]["reason"] == "presented_by_another_principal"


def test_given_a_result_nobody_confirms_when_the_sweep_discards_it_then_one_system_record(cw):
    world, fake, ocl = cw
    flow = run_flow(world, fake, ocl, scopes=["email"], confirmed=False)
    done, _ = discard_expired(world.services, now=int(time.time()) + 11 * 60, time_left=lambda: 30.0)
    assert done == 1
    record = the_record(world, "connection.discarded")
    assert record["actor"]["type"] == "system" and record["resource"]["id"] == flow.connection_id
    assert record["details"] == {"kind": "create", "revocation": "revoked", "reason": "not_confirmed_in_time"}


def test_given_a_disconnect_then_one_record_carries_the_revocation_outcome(cw):
    world, fake, ocl = cw
    con_id = run_flow(world, fake, ocl, scopes=["email"]).confirmed.json["id"]
    assert world.request("DELETE", f"/v1/connections/{con_id}", token=world.token()).status_code == 204
    record = the_record(world, "connection.deleted")
    assert record["outcome"] == "succeeded" and record["resource"]["id"] == con_id
    assert record["details"]["revocation"] == "revoked"
    assert world.request("DELETE", f"/v1/connections/{con_id}", token=world.token()).status_code == 404
    assert [r["outcome"] for r in trail(world) if r["action"] == "connection.deleted"] == [
        "failed",
        "succeeded",
    ]


def test_given_a_provider_disabled_then_the_admins_record_and_one_system_revocation_per_connection(cw):
    world, fake, ocl = cw
    con_id = run_flow(world, fake, ocl, scopes=["email"]).confirmed.json["id"]
    resp = world.request(
        "PATCH", "/v1/providers/google-mail", token=admin(world), json_body={"enabled": False}
    )
    assert resp.status_code == 200, resp.json
    switched = the_record(world, "provider.disabled")
    assert switched["actor"]["id"] == "alice" and switched["resource"] == {
        "type": "provider",
        "id": "google-mail",
    }
    assert switched["details"] == {"enabled": False, "switched": 1, "queued": False}
    revoked = the_record(world, "connection.revoked")
    assert revoked["actor"]["type"] == "system" and revoked["resource"]["id"] == con_id
    assert revoked["details"] == {"reason": "provider_disabled", "provider": "google-mail"}


def test_given_token_exposure_when_the_token_is_read_and_refused_then_each_leaves_one_record(cw):
    world, fake, ocl = cw
    con_id = run_flow(world, fake, ocl, scopes=["email"]).confirmed.json["id"]
    path = f"/v1/connections/{con_id}/token"
    assert world.request("GET", path, token=world.token()).status_code == 403  # exposure is off
    world.request("PATCH", "/v1/settings", token=admin(world), json_body={"expose_access_tokens": True})
    resp = world.request("GET", path, token=world.token(), headers=UA)
    assert resp.status_code == 200
    records = [r for r in trail(world) if r["action"] == "connection.token_exposed"]
    assert [(r["outcome"], r.get("code")) for r in records] == [
        ("succeeded", None),
        ("failed", "token_exposure_disabled"),
    ]
    assert records[0]["resource"] == {"type": "connection", "id": con_id}
    assert records[0]["actor"]["user_agent"] == "audit-test/1.0"
    assert resp.json["access_token"] not in json.dumps(records)


# -- GET /v1/audit ------------------------------------------------------------------------------------
def test_given_two_tenants_when_each_admin_reads_the_trail_then_neither_sees_the_others(world):
    acme_key = new_api_key(world, "acme")
    new_api_key(world, "globex")
    globex = world.request("GET", "/v1/audit", token=admin(world, "globex"))
    assert globex.status_code == 200
    assert {r["tenant"] for r in globex.json["data"]} == {"globex"}
    probe = world.request(
        "GET", "/v1/audit", token=admin(world, "globex"), query_string={"resource": acme_key["id"]}
    )
    assert probe.json == {"data": [], "next_cursor": None}
    acme = world.request("GET", "/v1/audit", token=admin(world), query_string={"resource": acme_key["id"]})
    assert [r["action"] for r in acme.json["data"]] == ["api_key.created"]


def test_given_a_non_admin_when_reading_the_trail_then_403_forbidden(world):
    resp = world.request("GET", "/v1/audit", token=world.token("acme", "bob"))
    assert resp.status_code == 403 and resp.json["code"] == "forbidden"


def test_given_records_when_paging_and_filtering_then_pages_are_newest_first_and_filters_apply(world):
    keys = [new_api_key(world) for _ in range(3)]
    world.request("DELETE", f"/v1/api-keys/{keys[0]['id']}", token=admin(world))
    first = world.request("GET", "/v1/audit", token=admin(world), query_string={"limit": 2})
    assert first.status_code == 200 and len(first.json["data"]) == 2
    second = world.request(
        "GET", "/v1/audit", token=admin(world), query_string={"limit": 2, "cursor": first.json["next_cursor"]}
    )
    seen = [r["id"] for r in first.json["data"] + second.json["data"]]
    assert seen == [r["id"] for r in trail(world)] and len(seen) == 4
    deleted = world.request(
        "GET", "/v1/audit", token=admin(world), query_string={"action": "api_key.deleted"}
    )
    assert [r["resource"]["id"] for r in deleted.json["data"]] == [keys[0]["id"]]
    by_actor = world.request("GET", "/v1/audit", token=admin(world), query_string={"actor": "alice"})
    assert len(by_actor.json["data"]) == 4
    future = world.request(
        "GET", "/v1/audit", token=admin(world), query_string={"since": "2999-01-01T00:00:00Z"}
    )
    assert future.json["data"] == []
    bad = world.request("GET", "/v1/audit", token=admin(world), query_string={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json["errors"][0]["loc"] == ["query", "since"]
