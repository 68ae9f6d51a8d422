"""Google's security events through the local gateway (POST /v1/google/risc, the `risc` function):
each event type changes exactly the connections of that account under that OAuth client (in every
tenant that registered it), within the request, with its events, webhook deliveries and audit
records; connections of other accounts, other clients and the tenants' other data stay untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from brokertest.google import seed_connection
from brokertest.risc import deliver, iss_sub, make_set, oauth_token
from oauth_broker.crypto.token_identifiers import google_hash_identifier
from oauth_broker.store.audit import AuditFilter, AuditStore
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus

from .conftest import RiscWorld

ALICE_SUB = "sub-alice@example.com"
OTHER_CLIENT = "other.apps.googleusercontent.com"


@dataclass
class Population:
    targets: list[ConnectionRecord]  # alice's through the client, in acme (mail, contacts) and globex
    bystanders: list[ConnectionRecord]  # bob's; alice's through another client
    tokens: dict[str, dict[str, Any]]  # connection id -> the fake's token response


def populate(rw: RiscWorld) -> Population:
    world, fake = rw.world, rw.fake
    acme_mail, t1 = seed_connection(world, fake, tenant="acme")
    acme_contacts, t2 = seed_connection(
        world, fake, tenant="acme", provider="google-contacts", scopes=["contacts.readonly"]
    )
    globex_mail, t3 = seed_connection(world, fake, tenant="globex")
    bob, t4 = seed_connection(world, fake, tenant="acme", owner="bob", email="bob@example.com")
    other_client, t5 = seed_connection(world, fake, tenant="acme", provider_client_id=OTHER_CLIENT)
    tokens = {
        acme_mail.id: t1,
        acme_contacts.id: t2,
        globex_mail.id: t3,
        bob.id: t4,
        other_client.id: t5,
    }
    return Population([acme_mail, acme_contacts, globex_mail], [bob, other_client], tokens)


def current(rw: RiscWorld, rec: ConnectionRecord) -> ConnectionRecord:
    found = rw.world.services.connections.get(rec.id)
    assert found is not None
    return found


def raw_item(rw: RiscWorld, rec: ConnectionRecord) -> dict[str, Any]:
    aws = rw.world.aws
    item: dict[str, Any] = aws.dynamodb.get_item(
        TableName=aws.resources.table_name, Key={"pk": {"S": f"CON#{rec.id}"}, "sk": {"S": "CON"}}
    )["Item"]
    return item


def audit_records(rw: RiscWorld, tenant: str, action: str) -> list[dict[str, Any]]:
    records, _ = AuditStore(rw.world.services.table).list(tenant, AuditFilter(), limit=100)
    return [r for r in records if r["action"] == action]


def assert_untouched(rw: RiscWorld, population: Population) -> None:
    for rec in population.bystanders:
        now = current(rw, rec)
        assert (now.status, now.version) == (rec.status, rec.version), rec.id


def webhook_bodies(rw: RiscWorld, count: int) -> list[dict[str, Any]]:
    rw.bridge.drain()
    return [json.loads(d.body) for d in rw.receiver.wait_for(count)]


# ----------------------------------------------------------------------------- revoking events
@pytest.mark.parametrize(
    ("event_type", "reason"),
    [("tokens-revoked", "provider_tokens_revoked"), ("account-purged", "account_purged")],
)
def test_given_an_account_wide_revoking_event_when_sent_then_the_accounts_connections_are_revoked_at_once(
    rw, event_type, reason
):
    population = populate(rw)

    resp = deliver(rw.world, make_set(event_type, iss_sub(ALICE_SUB)))

    assert resp.status_code == 202, resp.get_data(as_text=True)
    for rec in population.targets:
        now = current(rw, rec)
        assert (now.status, now.status_reason) == (ConnectionStatus.REVOKED, reason), rec.id
    assert_untouched(rw, population)
    revoked = rw.events("connection.revoked")
    assert sorted(e["connection"]["connection_id"] for e in revoked) == sorted(
        r.id for r in population.targets
    )
    assert {(e["reason"], e["event_type"]) for e in revoked} == {(reason, event_type)}
    # acme's webhook gets acme's two (globex has no webhook), signed deliveries of the same events
    bodies = webhook_bodies(rw, 2)
    assert sorted(b["connection"]["connection_id"] for b in bodies) == sorted(
        r.id for r in population.targets if r.tenant == "acme"
    )
    assert {b["type"] for b in bodies} == {"connection.revoked"}
    records = audit_records(rw, "acme", "connection.revoked")
    assert sorted(r["resource"]["id"] for r in records) == sorted(
        r.id for r in population.targets if r.tenant == "acme"
    )
    assert {r["actor"]["type"] for r in records} == {"system"}
    assert {(r["details"]["reason"], r["details"]["event_type"]) for r in records} == {(reason, event_type)}
    assert len(audit_records(rw, "globex", "connection.revoked")) == 1


def test_given_the_event_applied_when_the_app_calls_gmail_through_the_connection_then_the_proxy_refuses_it(
    rw,
):
    population = populate(rw)
    mail = population.targets[0]

    assert deliver(rw.world, make_set("tokens-revoked", iss_sub(ALICE_SUB))).status_code == 202
    resp = rw.world.request(
        "GET", f"/v1/connections/{mail.id}/gmail/messages", token=rw.world.token("acme", "alice")
    )

    assert resp.status_code == 404, resp.get_data(as_text=True)  # revoked: the proxy serves it no more


def test_given_a_connection_cut_by_a_disabled_provider_when_tokens_are_revoked_then_it_is_revoked_for_good(
    rw,
):
    population = populate(rw)
    mail = population.targets[0]
    services = rw.world.services
    disabled = services.connections.save(
        mail.model_copy(
            update={
                "status": ConnectionStatus.REVOKED,
                "status_reason": "provider_disabled",
                "status_before_disable": ConnectionStatus.ACTIVE,
            }
        ),
        expected_version=mail.version,
    )

    assert deliver(rw.world, make_set("tokens-revoked", iss_sub(ALICE_SUB))).status_code == 202

    now = current(rw, disabled)
    assert (now.status, now.status_reason, now.status_before_disable) == (
        ConnectionStatus.REVOKED,
        "provider_tokens_revoked",
        None,
    )


# ----------------------------------------------------------------------------- token-revoked
@pytest.mark.parametrize("alg", ["prefix", "hash_base64_sha512_sha512"])
def test_given_a_token_revoked_event_when_it_names_one_refresh_token_then_exactly_that_connection_is_revoked(
    rw, alg
):
    population = populate(rw)
    target = population.targets[1]  # acme's contacts connection: its own refresh token
    refresh_token = population.tokens[target.id]["refresh_token"]
    identifier = refresh_token[:16] if alg == "prefix" else google_hash_identifier(refresh_token)

    resp = deliver(rw.world, make_set("token-revoked", oauth_token(alg, identifier)))

    assert resp.status_code == 202, resp.get_data(as_text=True)
    now = current(rw, target)
    assert (now.status, now.status_reason) == (ConnectionStatus.REVOKED, "provider_token_revoked")
    for rec in [*population.targets, *population.bystanders]:
        if rec.id != target.id:
            assert current(rw, rec).status == ConnectionStatus.ACTIVE, rec.id
    (event,) = rw.events("connection.revoked")
    assert (event["connection"]["connection_id"], event["event_type"]) == (target.id, "token-revoked")
    (record,) = audit_records(rw, "acme", "connection.revoked")
    assert record["resource"]["id"] == target.id
    (body,) = webhook_bodies(rw, 1)
    assert body["connection"]["connection_id"] == target.id


def test_given_a_token_revoked_event_for_a_token_of_another_client_then_nothing_changes(rw):
    population = populate(rw)
    other = population.bystanders[1]  # alice's connection through another client id
    refresh_token = population.tokens[other.id]["refresh_token"]

    resp = deliver(rw.world, make_set("token-revoked", oauth_token("prefix", refresh_token[:16])))

    assert resp.status_code == 202
    assert current(rw, other).status == ConnectionStatus.ACTIVE
    assert rw.events("connection.revoked") == []


# ----------------------------------------------------------------------------- account-disabled
def test_given_account_disabled_when_sent_then_connections_need_reauth_and_revoked_ones_stay_revoked(
    rw,
):
    population = populate(rw)
    acme_mail, acme_contacts, globex_mail = population.targets
    services = rw.world.services
    services.connections.save(
        globex_mail.model_copy(update={"status": ConnectionStatus.REVOKED, "status_reason": "deleted"}),
        expected_version=globex_mail.version,
    )

    resp = deliver(
        rw.world, make_set("account-disabled", iss_sub(ALICE_SUB), event={"reason": "bulk-account"})
    )

    assert resp.status_code == 202
    for rec in (acme_mail, acme_contacts):
        now = current(rw, rec)
        assert (now.status, now.status_reason) == (ConnectionStatus.NEEDS_REAUTH, "account_disabled")
        assert now.enc_refresh_token == rec.enc_refresh_token  # a disabled account may come back
    assert current(rw, globex_mail).status == ConnectionStatus.REVOKED
    assert_untouched(rw, population)
    events = rw.events("connection.needs_reauth")
    assert sorted(e["connection"]["connection_id"] for e in events) == sorted(
        [acme_mail.id, acme_contacts.id]
    )
    assert {e["reason"] for e in events} == {"account_disabled"}
    assert {b["type"] for b in webhook_bodies(rw, 2)} == {"connection.needs_reauth"}
    records = audit_records(rw, "acme", "connection.needs_reauth")
    assert sorted(r["resource"]["id"] for r in records) == sorted([acme_mail.id, acme_contacts.id])


def test_given_account_disabled_for_hijacking_when_sent_then_connections_are_revoked_and_tokens_discarded(
    rw,
):
    population = populate(rw)

    resp = deliver(rw.world, make_set("account-disabled", iss_sub(ALICE_SUB), event={"reason": "hijacking"}))

    assert resp.status_code == 202
    for rec in population.targets:
        now = current(rw, rec)
        assert (now.status, now.status_reason) == (ConnectionStatus.REVOKED, "account_hijacked")
        item = raw_item(rw, rec)
        assert "enc_access_token" not in item and "enc_refresh_token" not in item, rec.id
    for rec in population.bystanders:
        assert "enc_refresh_token" in raw_item(rw, rec)
    assert_untouched(rw, population)
    revoked = rw.events("connection.revoked")
    assert {(e["reason"], e["event_type"]) for e in revoked} == {("account_hijacked", "account-disabled")}
    assert len(revoked) == 3
    assert len(webhook_bodies(rw, 2)) == 2
    assert len(audit_records(rw, "acme", "connection.revoked")) == 2


# ----------------------------------------------------------------------------- notices
@pytest.mark.parametrize(
    "event_type", ["sessions-revoked", "account-enabled", "account-credential-change-required"]
)
def test_given_an_event_only_security_event_when_sent_then_statuses_stay_and_the_tenants_are_told(
    rw, event_type
):
    population = populate(rw)

    resp = deliver(rw.world, make_set(event_type, iss_sub(ALICE_SUB)))

    assert resp.status_code == 202
    for rec in [*population.targets, *population.bystanders]:
        now = current(rw, rec)
        assert (now.status, now.version) == (rec.status, rec.version), rec.id
    events = rw.events("connection.security_event")
    assert sorted(e["connection"]["connection_id"] for e in events) == sorted(
        r.id for r in population.targets
    )
    assert {e["event_type"] for e in events} == {event_type}
    bodies = webhook_bodies(rw, 2)
    assert {(b["type"], b["event_type"]) for b in bodies} == {("connection.security_event", event_type)}
    assert len(audit_records(rw, "acme", "connection.security_event")) == 2
    assert [e for e in rw.events() if e["type"] != "connection.security_event"] == []


def test_given_a_verification_event_when_sent_then_it_is_logged_and_accepted_and_nothing_changes(
    rw, log_lines
):
    population = populate(rw)

    resp = deliver(rw.world, make_set("verification", None, event={"state": "risc-test-42"}))

    assert resp.status_code == 202
    assert rw.events() == []
    assert_untouched(rw, population)
    assert any(
        line.get("message") == "security event verification" and line.get("state") == "risc-test-42"
        for line in log_lines.records()
    )


# ----------------------------------------------------------------------------- once only
def test_given_an_event_applied_when_the_same_token_comes_again_then_400_replayed_and_nothing_published(
    rw,
):
    populate(rw)
    token = make_set("tokens-revoked", iss_sub(ALICE_SUB))
    assert deliver(rw.world, token).status_code == 202
    published = len(rw.events())

    resp = deliver(rw.world, token)

    assert resp.status_code == 400
    assert resp.get_json()["code"] == "replayed_event"
    assert len(rw.events()) == published


def test_given_a_token_revoked_event_when_applied_then_no_token_material_reaches_the_log_or_the_events(
    rw, log_lines
):
    population = populate(rw)
    target = population.targets[0]
    refresh_token = population.tokens[target.id]["refresh_token"]
    prefix_token = make_set("token-revoked", oauth_token("prefix", refresh_token[:16]))

    assert deliver(rw.world, prefix_token).status_code == 202

    text = json.dumps(log_lines.records()) + json.dumps(rw.events())
    assert refresh_token[:16] not in text
    assert prefix_token.split(".")[1] not in text
