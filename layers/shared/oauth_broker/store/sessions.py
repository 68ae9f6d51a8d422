"""Connect sessions (`CS#{sha256(token)}`) and OAuth states (`STATE#{sha256(state)}`).

Both are single use and live 10 minutes. The table holds neither the session token nor the state:
only their SHA-256, so a leaked table (or backup) cannot be replayed. Consuming is one conditional
delete that returns the old item: of two concurrent consumers exactly one gets the record, and an
expired item (DynamoDB's TTL deletes lazily, up to days later) is refused by the condition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from oauth_broker.store.models import Item
from oauth_broker.store.table import ConditionFailed, Table
from oauth_broker.timeutil import now_epoch

SESSION_TTL_SECONDS = 600
STATE_TTL_SECONDS = 600

Mode = Literal["popup", "redirect"]
Clock = Callable[[], int]


class FlowContext(Item):
    """What a connect session asked for; carried from the session to the OAuth state."""

    tenant: str
    user: str
    provider: str
    oauth_client_id: str
    name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    prompt: str | None = None
    login_hint: str | None = None
    return_to: str | None = None
    mode: Mode = "popup"
    connection_id: str | None = None


class ConnectSessionRecord(FlowContext):
    created_at: str
    expires_at: int


class OAuthStateRecord(FlowContext):
    redirect_uri: str
    # `crypto.state_box.seal(state, {"verifier", "nonce"})`: opened only with the state itself.
    sealed: str
    created_at: str
    expires_at: int


def _consume(table: Table, pk: str, sk: str, now: int) -> dict[str, object] | None:
    try:
        return table.delete(
            pk,
            sk,
            condition="attribute_exists(pk) AND expires_at > :now",
            values={":now": now},
            return_old=True,
        )
    except ConditionFailed:
        return None


class ConnectSessionStore:
    def __init__(self, table: Table, *, clock: Clock = now_epoch):
        self.table = table
        self.clock = clock

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"CS#{token_hash}", "CS"

    def create(self, token_hash: str, record: ConnectSessionRecord) -> ConnectSessionRecord:
        pk, sk = self.key(token_hash)
        self.table.put(
            {"pk": pk, "sk": sk, "ttl": record.expires_at, **record.to_item()},
            condition="attribute_not_exists(pk)",
        )
        return record

    def consume(self, token_hash: str) -> ConnectSessionRecord | None:
        """The session, deleted in the same write; None if unknown, used or expired."""
        old = _consume(self.table, *self.key(token_hash), self.clock())
        record: ConnectSessionRecord | None = ConnectSessionRecord.from_item(old) if old else None
        return record


class OAuthStateStore:
    def __init__(self, table: Table, *, clock: Clock = now_epoch):
        self.table = table
        self.clock = clock

    @staticmethod
    def key(state_hash: str) -> tuple[str, str]:
        return f"STATE#{state_hash}", "STATE"

    def create(self, state_hash: str, record: OAuthStateRecord) -> OAuthStateRecord:
        pk, sk = self.key(state_hash)
        self.table.put(
            {"pk": pk, "sk": sk, "ttl": record.expires_at, **record.to_item()},
            condition="attribute_not_exists(pk)",
        )
        return record

    def consume(self, state_hash: str) -> OAuthStateRecord | None:
        """The state, deleted in the same write; None if unknown, used or expired."""
        old = _consume(self.table, *self.key(state_hash), self.clock())
        record: OAuthStateRecord | None = OAuthStateRecord.from_item(old) if old else None
        return record
