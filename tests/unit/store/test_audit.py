"""`AuditStore` and `AuditTrail` against moto: append-only records in the tenant's partition, TTL
from the retention, newest first, filters, pagination bound to the tenant, and what happens when
a record cannot be written."""

from __future__ import annotations

from typing import Any

import pytest

from brokertest.logs import captured_logs
from brokertest.metrics import recorded_metrics
from oauth_broker.audit import SYSTEM, Actor, AuditTrail, clean_details, instant, parse_instant
from oauth_broker.errors import ValidationFailed
from oauth_broker.store.audit import AuditFilter, AuditStore
from oauth_broker.store.table import Table

ALICE = Actor("user", "alice", ip="203.0.113.7", user_agent="curl/8")
KEY = Actor("api_key", "key_1", on_behalf_of="bob", ip="198.51.100.2")


class Published:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def publish_audit(self, record: dict[str, Any]) -> dict[str, Any]:
        self.records.append(record)
        return record


@pytest.fixture
def table(aws) -> Table:
    return Table(aws.resources.table_name, aws.dynamodb)


@pytest.fixture
def store(table) -> AuditStore:
    return AuditStore(table)


def trail(store: AuditStore, *, days: int = 400) -> tuple[AuditTrail, Published]:
    published = Published()
    return AuditTrail(store, published, retention_days=days), published  # type: ignore[arg-type]


def add_record(
    audit: AuditTrail,
    *,
    tenant: str = "acme",
    outcome: str = "succeeded",
    actor: Actor = ALICE,
    resource_type: str = "connection",
    **fields: Any,
) -> dict[str, Any]:
    """`audit.record(...)` with this file's usual tenant, outcome, actor and resource type."""
    return audit.record(
        tenant=tenant,
        outcome=outcome,
        actor=actor,
        resource_type=resource_type,
        **fields,  # type: ignore[arg-type]
    )


def raw_item(aws, tenant: str, record: dict[str, Any]) -> dict[str, Any]:
    key = {"pk": {"S": f"AUDIT#{tenant}"}, "sk": {"S": f"{record['occurred_at']}#{record['id']}"}}
    return aws.dynamodb.get_item(TableName=aws.resources.table_name, Key=key)["Item"]


def test_given_a_record_when_written_then_it_is_in_the_tenants_partition_with_a_ttl_of_the_retention(
    aws, store
):
    audit, published = trail(store, days=30)
    record = add_record(
        audit, action="api_key.created", resource_type="api_key", resource_id="key_9", status=201
    )
    item = raw_item(aws, "acme", record)
    occurred = parse_instant(record["occurred_at"])
    assert record["id"].startswith("aud_") and len(record["id"]) >= 4 + 24  # >= 96 bits of hex
    assert int(item["ttl"]["N"]) - int(_epoch(occurred)) in (30 * 86400, 30 * 86400 - 1)
    assert item["actor"]["M"]["ip"]["S"] == "203.0.113.7"
    assert published.records == [record]


def _epoch(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_given_an_existing_record_when_the_same_key_is_appended_again_then_it_is_not_overwritten(aws, store):
    item = {"id": "aud_1", "tenant": "acme", "occurred_at": instant(), "action": "api_key.created"}
    assert store.append(item, ttl=1) is True
    assert store.append({**item, "action": "api_key.deleted"}, ttl=2) is False
    stored = raw_item(aws, "acme", item)
    assert stored["action"]["S"] == "api_key.created"
    assert stored["ttl"]["N"] == "1"


def test_given_records_of_two_tenants_when_one_lists_then_it_sees_only_its_own_newest_first(store):
    audit, _ = trail(store)
    first = add_record(audit, action="api_key.created", resource_type="api_key", resource_id="key_1")
    add_record(audit, tenant="globex", action="api_key.created", resource_type="api_key", resource_id="key_1")
    second = add_record(
        audit,
        action="api_key.deleted",
        outcome="failed",
        actor=KEY,
        resource_type="api_key",
        resource_id="key_1",
        status=404,
        code="not_found",
    )
    records, cursor = store.list("acme", AuditFilter())
    assert [r["id"] for r in records] == [second["id"], first["id"]]
    assert {r["tenant"] for r in records} == {"acme"}
    assert cursor is None


def test_given_filters_when_listing_then_resource_actor_obo_action_and_time_window_select(store):
    audit, _ = trail(store)
    a = add_record(audit, action="connection.deleted", resource_id="con_a")
    b = add_record(audit, action="connection.token_exposed", actor=KEY, resource_id="con_b")
    c = add_record(audit, action="connection.revoked", actor=SYSTEM, resource_id="con_a")

    def ids(**kw: Any) -> list[str]:
        return [r["id"] for r in store.list("acme", AuditFilter(**kw))[0]]

    assert ids(resource="con_a") == [c["id"], a["id"]]
    assert ids(actor="key_1") == [b["id"]]
    assert ids(actor="bob") == [b["id"]]  # the user an API key acted for
    assert ids(action="connection.revoked") == [c["id"]]
    assert ids(since=b["occurred_at"], until=b["occurred_at"]) == [b["id"]]
    assert ids(since=b["occurred_at"]) == [c["id"], b["id"]]
    assert ids(until=a["occurred_at"]) == [a["id"]]


def test_given_more_records_than_the_limit_when_paging_then_every_record_comes_once_in_order(store):
    audit, _ = trail(store)
    made = [
        add_record(audit, action="api_key.created", resource_type="api_key", resource_id=f"key_{i}")
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = store.list("acme", AuditFilter(), limit=2, cursor=cursor)
        seen.extend(r["id"] for r in page)
        if cursor is None:
            break
    assert seen == [r["id"] for r in reversed(made)]


def test_given_another_tenants_cursor_when_listing_then_it_is_refused(store):
    audit, _ = trail(store)
    for i in range(2):
        add_record(
            audit, tenant="globex", action="api_key.created", resource_type="api_key", resource_id=f"key_{i}"
        )
    _, cursor = store.list("globex", AuditFilter(), limit=1)
    assert cursor is not None
    with pytest.raises(ValidationFailed):
        store.list("acme", AuditFilter(), cursor=cursor)


def test_given_details_when_cleaned_then_only_allow_listed_keys_and_plain_values_stay():
    details = clean_details(
        {
            "provider": "google-mail",
            "client_secret": "s3cr3t",
            "access_token": "ya29",
            "fields": ["name"],
            "enabled": False,
            "revocation": {"nested": "x"},
        }
    )
    assert details == {"provider": "google-mail", "fields": ["name"], "enabled": False}


class FailingStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def append(self, item: dict[str, Any], *, ttl: int) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("throttled")
        return True


def test_given_a_store_failing_once_when_recording_then_the_retry_writes_it_and_it_is_published():
    store = FailingStore(1)
    audit, published = trail(store)  # type: ignore[arg-type]
    record = add_record(audit, action="settings.updated", resource_type="settings", resource_id="acme")
    assert store.calls == 2
    assert published.records == [record]


def test_given_a_store_that_keeps_failing_when_recording_then_an_error_names_the_record_and_nothing_raises():
    store = FailingStore(99)
    audit, published = trail(store)  # type: ignore[arg-type]
    with captured_logs() as log_lines, recorded_metrics("api") as recorded:
        record = add_record(audit, action="settings.updated", resource_type="settings", resource_id="acme")
    assert store.calls == 3
    assert published.records == []
    assert recorded.total("audit_write_failed") == 1  # the metric an operator alarms on
    errors = [line for line in log_lines.records() if line.get("message") == "audit record not written"]
    assert len(errors) == 1
    assert errors[0]["level"] == "ERROR"
    assert errors[0]["action"] == "settings.updated" and errors[0]["audit_id"] == record["id"]
    assert errors[0]["audit_record"]["resource"] == {"type": "settings", "id": "acme"}


def test_given_rfc3339_values_when_parsed_then_offsets_become_utc_instants_and_others_are_refused():
    assert parse_instant("2026-12-06T13:00:00+01:00") == "2026-12-06T12:00:00.000Z"
    assert parse_instant("2026-12-06T12:00:00.5Z") == "2026-12-06T12:00:00.500Z"
    for bad in ("2026-12-06", "yesterday", "2026-12-06T12:00:00"):
        with pytest.raises(ValueError):
            parse_instant(bad)


def test_given_the_retention_in_the_environment_when_a_record_is_made_then_its_ttl_follows_it(aws):
    from oauth_broker.audit import audit_trail
    from oauth_broker.config import BrokerConfig
    from oauth_broker.services import Services

    env = {
        "TABLE_NAME": aws.resources.table_name,
        "KMS_KEY_ID": aws.resources.key_id,
        "EVENT_BUS_NAME": aws.resources.bus_name,
        "JWT_ISSUER": "https://idp.example.com",
        "JWT_AUDIENCE": "broker",
        "JWKS_URL": "https://idp.example.com/jwks",
        "AUDIT_RETENTION_DAYS": "7",
    }
    services = Services(BrokerConfig.from_env(env), dynamodb=aws.dynamodb, events=aws.events)
    record = audit_trail(services).record(
        tenant="acme", action="api_key.deleted", outcome="succeeded", actor=ALICE, resource_type="api_key"
    )
    item = raw_item(aws, "acme", record)
    assert int(item["ttl"]["N"]) - int(_epoch(record["occurred_at"])) == 7 * 86400
    assert (
        BrokerConfig.from_env(
            {k: v for k, v in env.items() if k != "AUDIT_RETENTION_DAYS"}
        ).audit_retention_days
        == 400
    )
