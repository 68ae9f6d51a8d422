"""The token-identifier index: Google's `token-revoked` names one connection by its refresh token's
`prefix` (first 16 characters) or `hash_base64_sha512_sha512`; `ConnectionStore.by_token_identifier`
finds it without a scan or an index (a `TOKID#<digest>` lookup item, then the connection, verified).

The lookup items follow every change of a connection's refresh token in the same transaction as
the connection: the connect flow (a new connection, a confirmed re-authorization), a rotating
refresh (the refresh function), a disconnect, a pending result nobody confirmed. What is stored is
a SHA-256 of each identifier, never the prefix (the at-rest scan at the end)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from brokertest.connect import (
    allow_return_origins,
    b64_forms,
    create_oauth_client,
    run_flow,
    table_dump,
)
from brokertest.google import CLIENT_ID, GOOGLE_BASE, build_google_world, seed_connection, seed_oauth_client
from brokertest.tokens import AwsCallCounter, TokenRecorder
from brokertest.world import World
from oauth_broker.connect.confirmation import discard, pending_results
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.crypto.token_identifiers import (
    HASH_SHA512_SHA512,
    PREFIX,
    google_hash_identifier,
    token_digests,
)
from oauth_broker.ids import sha256_hex
from oauth_broker.services import configure
from oauth_broker.store.models import ConnectionRecord
from oauth_broker_dev.fake_google import FakeGoogle

OTHER_CLIENT_ID = "second-app.apps.googleusercontent.com"
OTHER_CLIENT_SECRET = "GOCSPX-second-client-secret-0002"


class Google:
    """A broker and the fake Google, every token the fake hands out recorded."""

    def __init__(self, world: World, fake: FakeGoogle):
        self.world, self.fake = world, fake
        self.recorder = TokenRecorder(world.transport.routes[GOOGLE_BASE])
        world.transport.mount(GOOGLE_BASE, self.recorder)
        fake.config.clients[OTHER_CLIENT_ID] = OTHER_CLIENT_SECRET

    @property
    def connections(self) -> Any:
        return self.world.services.connections

    def refresh_token_of(self, rec: ConnectionRecord) -> str:
        assert rec.enc_refresh_token is not None
        ctx = EncryptionContext(rec.tenant, rec.id, "refresh_token")
        return str(self.world.services.envelope.decrypt(rec.enc_refresh_token, ctx).decode())

    def stored(self, connection_id: str) -> ConnectionRecord:
        rec = self.connections.get(connection_id)
        assert rec is not None
        return rec

    def found_by(self, refresh_token: str) -> tuple[str | None, str | None]:
        """(the connection found by the token's prefix, by its hash), as Google's event names it."""
        by_prefix = self.connections.by_token_identifier(PREFIX, refresh_token[:16])
        by_hash = self.connections.by_token_identifier(
            HASH_SHA512_SHA512, google_hash_identifier(refresh_token)
        )
        return (by_prefix.id if by_prefix else None, by_hash.id if by_hash else None)

    def items(self) -> list[dict[str, Any]]:
        return list(self.world.aws.dynamodb.scan(TableName=self.world.aws.resources.table_name)["Items"])

    def lookup_items(self) -> dict[str, str]:
        """TOKID# lookup items: digest -> connection id."""
        return {
            i["pk"]["S"].removeprefix("TOKID#"): i["connection_id"]["S"]
            for i in self.items()
            if i["pk"]["S"].startswith("TOKID#")
        }

    def refresh_tokens_issued(self) -> set[str]:
        return {t for t in self.recorder.tokens if t.startswith("1//")}


def _google(aws: Any, tmp_path: Any, **fake_config: Any) -> Iterator[Google]:
    world, fake = build_google_world(aws, tmp_path, **fake_config)
    try:
        allow_return_origins(world)
        allow_return_origins(world, tenant="globex")
        yield Google(world, fake)
    finally:
        configure(None)


@pytest.fixture
def g(aws: Any, tmp_path: Any) -> Iterator[Google]:
    yield from _google(aws, tmp_path)


@pytest.fixture
def rotating(aws: Any, tmp_path: Any) -> Iterator[Google]:
    yield from _google(aws, tmp_path, rotate_refresh_tokens=True)


def _connect(g: Google, oauth_client: str, **fields: Any) -> ConnectionRecord:
    flow = run_flow(g.world, g.fake, oauth_client, scopes=["gmail.readonly"], **fields)
    assert flow.response.status_code in (200, 303), flow.response.get_data(as_text=True)
    return g.stored(flow.connection_id)


def test_given_one_account_through_two_clients_and_in_another_tenant_when_looked_up_then_exactly_each(
    g,
):
    first = create_oauth_client(g.world)
    second = create_oauth_client(
        g.world, client_id=OTHER_CLIENT_ID, client_secret=OTHER_CLIENT_SECRET, name="Acme Gmail 2"
    )
    globex_client = create_oauth_client(g.world, tenant="globex")
    connections = [
        _connect(g, first["id"]),
        _connect(g, second["id"]),
        _connect(g, globex_client["id"], tenant="globex"),
    ]
    assert len({c.account_sub for c in connections}) == 1  # one Google account, three grants
    assert [c.tenant for c in connections] == ["acme", "acme", "globex"]

    for rec in connections:
        assert g.found_by(g.refresh_token_of(rec)) == (rec.id, rec.id)
    assert sorted(g.lookup_items().values()) == sorted(c.id for c in connections for _ in range(2))
    assert g.found_by("1//0" + "x" * 60) == (None, None)


def test_given_a_connection_when_looked_up_by_a_token_identifier_then_two_consistent_get_items(
    g,
):
    rec = _connect(g, create_oauth_client(g.world)["id"])
    refresh_token = g.refresh_token_of(rec)
    counter = AwsCallCounter(g.world.aws.dynamodb)
    try:
        for alg, token in [
            (PREFIX, refresh_token[:16]),
            (HASH_SHA512_SHA512, google_hash_identifier(refresh_token)),
        ]:
            counter.reset()
            found = g.connections.by_token_identifier(alg, token)

            assert found is not None and found.id == rec.id
            assert dict(counter.calls) == {"GetItem": 2}
            lookup, connection = (json.loads(params["body"]) for _, params in counter.params)
            assert lookup["Key"]["pk"]["S"].startswith("TOKID#") and lookup["ConsistentRead"] is True
            assert connection["Key"]["pk"]["S"] == f"CON#{rec.id}" and connection["ConsistentRead"] is True
    finally:
        counter.detach()


def test_given_a_rotating_provider_when_the_refresh_function_rotates_then_only_the_new_token_finds_it(
    rotating,
):
    g = rotating
    rec = _connect(g, create_oauth_client(g.world)["id"])
    old = g.refresh_token_of(rec)

    resp = g.world.request("POST", f"/v1/connections/{rec.id}/refresh", token=g.world.token("acme", "alice"))

    assert resp.status_code == 200, resp.get_data(as_text=True)
    new = g.refresh_token_of(g.stored(rec.id))
    assert new != old
    assert g.found_by(old) == (None, None)
    assert g.found_by(new) == (rec.id, rec.id)
    assert g.lookup_items() == dict.fromkeys(token_digests(new), rec.id)  # the old ones deleted


def test_given_a_confirmed_reauthorization_with_a_new_refresh_token_then_only_the_new_token_finds_it(g):
    client = create_oauth_client(g.world)
    rec = _connect(g, client["id"])
    old = g.refresh_token_of(rec)

    again = _connect(g, client["id"], connection_id=rec.id, prompt="consent")

    assert again.id == rec.id
    new = g.refresh_token_of(again)
    assert new != old
    assert g.found_by(old) == (None, None)
    assert g.found_by(new) == (rec.id, rec.id)
    assert g.lookup_items() == dict.fromkeys(token_digests(new), rec.id)


def test_given_an_unconfirmed_reauthorization_then_the_connection_is_still_found_by_its_old_token_only(g):
    client = create_oauth_client(g.world)
    rec = _connect(g, client["id"])
    old = g.refresh_token_of(rec)

    run_flow(g.world, g.fake, client["id"], connection_id=rec.id, prompt="consent", confirmed=False)

    held = g.refresh_tokens_issued() - {old}
    assert len(held) == 1
    assert g.found_by(old) == (rec.id, rec.id)
    assert g.found_by(held.pop()) == (None, None)  # held aside, not the connection's yet


def test_given_a_deleted_connection_then_its_token_finds_nothing_and_no_lookup_item_is_left(g):
    client = create_oauth_client(g.world)
    rec = _connect(g, client["id"])
    other = _connect(g, client["id"], user="bob")
    refresh_token = g.refresh_token_of(rec)

    resp = g.world.request("DELETE", f"/v1/connections/{rec.id}", token=g.world.token("acme", "alice"))

    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert g.connections.get(rec.id) is None
    assert g.found_by(refresh_token) == (None, None)
    assert set(g.lookup_items().values()) == {other.id}


def test_given_a_pending_result_nobody_confirms_when_discarded_then_its_token_finds_nothing(g):
    client = create_oauth_client(g.world)
    flow = run_flow(g.world, g.fake, client["id"], scopes=["gmail.readonly"], confirmed=False)
    pending = g.stored(flow.connection_id)
    refresh_token = g.refresh_token_of(pending)
    assert g.found_by(refresh_token) == (pending.id, pending.id)  # it holds a grant: indexed
    confirmation = flow.result["confirmation"]
    assert pending_results(g.world.services).get(sha256_hex(confirmation)) is not None

    assert discard(g.world.services, sha256_hex(confirmation), deadline=time.monotonic() + 10)

    assert g.connections.get(pending.id) is None
    assert g.found_by(refresh_token) == (None, None)
    assert g.lookup_items() == {}


def test_given_a_connection_stored_before_the_index_when_next_refreshed_then_it_is_indexed(g):
    world, fake = g.world, g.fake
    rec, tokens = seed_connection(world, fake, rt_digests=None, expires_in=-60)
    assert g.found_by(tokens["refresh_token"]) == (None, None)

    resp = world.request("POST", f"/v1/connections/{rec.id}/refresh", token=world.token("acme", "alice"))

    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert g.refresh_token_of(g.stored(rec.id)) == tokens["refresh_token"]  # Google does not rotate
    assert g.found_by(tokens["refresh_token"]) == (rec.id, rec.id)


def test_given_a_token_change_saved_without_its_previous_record_then_the_index_still_follows_it(g):
    rec, tokens = seed_connection(g.world, g.fake)
    replacement, _ = seed_connection(g.world, g.fake, tenant="globex")  # a token of another grant
    new_token = g.refresh_token_of(replacement)
    connections = g.connections
    g.world.services.connections.delete(replacement.id)
    envelope = g.world.services.envelope
    update = {
        "enc_refresh_token": envelope.encrypt(
            new_token.encode(), EncryptionContext(rec.tenant, rec.id, "refresh_token")
        ),
        "rt_digests": list(token_digests(new_token)),
    }

    connections.save(rec.model_copy(update=update), expected_version=rec.version)  # no `previous`

    assert g.found_by(tokens["refresh_token"]) == (None, None)
    assert g.found_by(new_token) == (rec.id, rec.id)
    assert g.lookup_items() == dict.fromkeys(token_digests(new_token), rec.id)


def test_given_a_discarded_refresh_token_then_its_digests_and_lookup_items_go_with_it(g):
    rec, tokens = seed_connection(g.world, g.fake)

    saved = g.connections.save(
        rec.model_copy(update={"enc_refresh_token": None}), expected_version=rec.version, previous=rec
    )

    assert saved.rt_digests is None and g.stored(rec.id).rt_digests is None
    assert g.found_by(tokens["refresh_token"]) == (None, None)
    assert g.lookup_items() == {}


def test_given_a_lookup_item_the_connection_no_longer_holds_then_it_never_matches(g):
    rec, tokens = seed_connection(g.world, g.fake)
    stale_token = "1//0staleRefreshTokenOfAnotherDay-0123456789"
    for digest in token_digests(stale_token):  # as a lost write could have left it
        pk, sk = g.connections.token_key(digest)
        g.world.services.table.put({"pk": pk, "sk": sk, "connection_id": rec.id, "tenant": rec.tenant})

    assert g.found_by(stale_token) == (None, None)
    assert g.found_by(tokens["refresh_token"]) == (rec.id, rec.id)


def test_given_connections_of_every_kind_then_no_attribute_of_any_item_holds_a_refresh_token_prefix(rotating):
    """Connect, re-authorize (confirmed and not), rotate through the refresh function, disconnect,
    seed: then every refresh token the fake issued is searched for in every attribute of every item
    (the TOKID lookup items included), by its prefix and Google's hash identifier, in plaintext,
    base64 and base64url."""
    g = rotating
    client = create_oauth_client(g.world)
    kept = _connect(g, client["id"])
    _connect(g, client["id"], connection_id=kept.id, prompt="consent")
    run_flow(g.world, g.fake, client["id"], connection_id=kept.id, prompt="consent", confirmed=False)
    resp = g.world.request("POST", f"/v1/connections/{kept.id}/refresh", token=g.world.token("acme", "alice"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    gone = _connect(g, client["id"], user="bob")
    resp = g.world.request("DELETE", f"/v1/connections/{gone.id}", token=g.world.token("acme", "bob"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    _, seeded = seed_connection(
        g.world, g.fake, tenant="globex", oauth_client=seed_oauth_client(g.world, tenant="globex")
    )

    issued = g.refresh_tokens_issued() | {seeded["refresh_token"]}
    dump = table_dump(g.world)
    lookup_items = [i for i in g.items() if i["pk"]["S"].startswith("TOKID#")]

    assert len(issued) == 6  # connect, re-authorize twice, rotate, bob's, the seed's
    assert len(lookup_items) == 4  # kept's current token and the globex seed's, two identifiers each
    assert all(set(i) == {"pk", "sk", "connection_id", "tenant"} for i in lookup_items)
    found = [
        (token[:8] + "…", what)
        for token in issued
        for what, identifier in (("prefix", token[:16]), ("hash", google_hash_identifier(token)))
        if any(form in dump for form in b64_forms(identifier))
    ]
    assert found == []
    assert CLIENT_ID in dump  # the dump is the table's (the client ids are in it)
    assert json.loads(dump)  # and parsed items, not an empty scan
