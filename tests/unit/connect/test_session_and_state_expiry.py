"""Connect sessions and OAuth states: single use, and dead after 10 minutes whatever DynamoDB's
(lazy) TTL deletion has done. moto in-process; the stores take an injected clock."""

from __future__ import annotations

from oauth_broker.crypto.state_box import state_hash
from oauth_broker.ids import sha256_hex
from oauth_broker.store.sessions import (
    SESSION_TTL_SECONDS,
    STATE_TTL_SECONDS,
    ConnectSessionRecord,
    ConnectSessionStore,
    OAuthStateRecord,
    OAuthStateStore,
)
from oauth_broker.store.table import Table

T0 = 1_800_000_000


class Clock:
    def __init__(self, now: int = T0):
        self.now = now

    def __call__(self) -> int:
        return self.now


def table(aws) -> Table:
    return Table(aws.resources.table_name, aws.dynamodb)


def session(created: int = T0) -> ConnectSessionRecord:
    return ConnectSessionRecord(
        tenant="acme",
        user="alice",
        provider="google-mail",
        oauth_client_id="ocl_1",
        scopes=["openid"],
        created_at="2027-01-15T08:00:00Z",
        expires_at=created + SESSION_TTL_SECONDS,
    )


def state(created: int = T0) -> OAuthStateRecord:
    return OAuthStateRecord(
        **session(created).model_dump(exclude={"created_at", "expires_at"}),
        redirect_uri="https://broker.test/v1/oauth/callback",
        sealed="s1.x.y",
        created_at="2027-01-15T08:00:00Z",
        expires_at=created + STATE_TTL_SECONDS,
    )


def test_given_a_fresh_session_when_consumed_twice_then_only_the_first_gets_it(aws):
    store = ConnectSessionStore(table(aws), clock=Clock(T0 + 5))
    store.create(sha256_hex("cs_token"), session())
    first = store.consume(sha256_hex("cs_token"))
    assert first is not None and first.user == "alice"
    assert store.consume(sha256_hex("cs_token")) is None


def test_given_a_session_one_second_before_its_10_minutes_end_when_consumed_then_it_is_accepted(aws):
    store = ConnectSessionStore(table(aws), clock=Clock(T0 + SESSION_TTL_SECONDS - 1))
    store.create(sha256_hex("cs_token"), session())
    assert store.consume(sha256_hex("cs_token")) is not None


def test_given_a_session_past_its_10_minutes_and_not_yet_deleted_by_ttl_when_consumed_then_it_is_refused(aws):
    clock = Clock(T0)
    store = ConnectSessionStore(table(aws), clock=clock)
    store.create(sha256_hex("cs_token"), session())
    clock.now = T0 + SESSION_TTL_SECONDS
    assert store.consume(sha256_hex("cs_token")) is None


def test_given_a_session_when_stored_then_the_table_holds_its_hash_and_a_ttl_never_the_token(aws):
    store = ConnectSessionStore(table(aws))
    store.create(sha256_hex("cs_secret-token-value"), session())
    items = aws.dynamodb.scan(TableName=aws.resources.table_name)["Items"]
    assert len(items) == 1
    assert items[0]["pk"]["S"] == "CS#" + sha256_hex("cs_secret-token-value")
    assert items[0]["ttl"]["N"] == str(T0 + SESSION_TTL_SECONDS)
    assert "secret-token-value" not in str(items)


def test_given_an_oauth_state_past_its_10_minutes_when_consumed_then_it_is_refused(aws):
    clock = Clock(T0)
    store = OAuthStateStore(table(aws), clock=clock)
    store.create(state_hash("a-state-value-of-enough-length-1234567890"), state())
    clock.now = T0 + STATE_TTL_SECONDS + 1
    assert store.consume(state_hash("a-state-value-of-enough-length-1234567890")) is None


def test_given_a_live_oauth_state_when_consumed_twice_then_the_replay_gets_nothing(aws):
    store = OAuthStateStore(table(aws), clock=Clock(T0 + 60))
    key = state_hash("a-state-value-of-enough-length-1234567890")
    store.create(key, state())
    assert store.consume(key) is not None
    assert store.consume(key) is None
