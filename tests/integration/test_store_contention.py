import threading

import pytest

from oauth_broker.errors import Conflict
from oauth_broker.store.connections import ConnectionStore
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.store.settings import SettingsStore
from oauth_broker.store.table import Table


def connection(**kw) -> ConnectionRecord:
    base = dict(
        id="con_1",
        tenant="acme",
        owner="alice",
        name="Work mail",
        provider="google-mail",
        oauth_client_id="ocl_1",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    return ConnectionRecord(**{**base, **kw})


@pytest.fixture
def table(aws) -> Table:
    return Table(aws.resources.table_name, aws.dynamodb)


def race(*writers):
    """Runs the writers at the same instant; returns (results, errors) in writer order."""
    barrier = threading.Barrier(len(writers))
    results: list = [None] * len(writers)
    errors: list = [None] * len(writers)

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_given_two_writers_on_the_same_version_when_both_save_then_exactly_one_wins_and_the_other_conflicts(
    table,
):
    store = ConnectionStore(table)
    store.create(connection())
    seen = store.get("con_1")
    a = seen.model_copy(update={"name": "from A"})
    b = seen.model_copy(update={"name": "from B"})
    results, errors = race(
        lambda: store.save(a, expected_version=seen.version),
        lambda: store.save(b, expected_version=seen.version),
    )
    assert sum(r is not None for r in results) == 1
    assert sum(isinstance(e, Conflict) for e in errors) == 1
    stored = store.get("con_1")
    assert stored.version == seen.version + 1
    assert stored.name == ("from A" if results[0] else "from B")


def test_given_an_existing_connection_id_when_created_again_then_it_conflicts(table):
    store = ConnectionStore(table)
    store.create(connection())
    with pytest.raises(Conflict):
        store.create(connection(name="duplicate"))
    assert store.get("con_1").name == "Work mail"


def test_given_two_admins_patching_different_settings_at_once_when_both_write_then_neither_change_is_lost(
    table,
):
    store = SettingsStore(table)
    store.update("acme", {"expose_access_tokens": False})
    for _ in range(5):
        _, errors = race(
            lambda: store.update("acme", {"webhook_url": "https://a.example.com/hook"}),
            lambda: store.update("acme", {"expose_access_tokens": True}),
        )
        assert errors == [None, None]
        final = store.get("acme")
        assert final.webhook_url == "https://a.example.com/hook" and final.expose_access_tokens is True
        store.update("acme", {"webhook_url": None, "expose_access_tokens": False})


def test_given_a_stale_settings_version_when_written_then_the_compare_and_set_refuses_it(table):
    store = SettingsStore(table)
    store.update("acme", {"expose_access_tokens": True})
    with pytest.raises(Conflict):
        table.put(
            {"pk": "TENANT#acme", "sk": "SETTINGS", "tenant": "acme", "version": 1},
            condition="version = :v",
            values={":v": 0},
        )


def test_given_a_refreshable_connection_when_stored_then_it_is_in_the_sparse_refresh_index(table, aws):
    store = ConnectionStore(table, refresh_ahead_seconds=300)
    store.create(connection(enc_refresh_token="v1.x", expires_at=10_000))
    store.create(connection(id="con_2", status="needs_reauth", enc_refresh_token="v1.x", expires_at=10_000))
    raw = {i["pk"]["S"]: i for i in aws.dynamodb.scan(TableName=table.name)["Items"]}
    assert raw["CON#con_1"]["due_at"]["N"] == "9700"
    assert "due_pk" not in raw["CON#con_2"]
