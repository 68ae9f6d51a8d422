"""Pending connect results (`CONFIRM#{sha256(confirmation)}`): what a callback obtained, held until
the user who started the flow confirms it (API.md, "Confirming a connection").

The confirmation itself (`cfm_` + 256 random bits) goes only to the app's `return_to`; the table
keeps its SHA-256. An item is single use: confirming and discarding both consume it with one
conditional delete that returns the old item, so of two concurrent consumers exactly one acts.

Expired items are found by the sweep through the sparse `ByRefreshDue` index, partition
`PENDING`, sorted by `due_at` (= `expires_at`): discarding one revokes the grant it obtained, so
DynamoDB's TTL (lazy, and blind to grants) is only a late backstop (`ttl` a week after expiry).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from oauth_broker.store.models import ConnectionStatus, Item
from oauth_broker.store.table import ConditionFailed, Table
from oauth_broker.timeutil import now_epoch

CONFIRMATION_TTL_SECONDS = 600
PENDING_PARTITION = "PENDING"
DUE_INDEX = "ByRefreshDue"
TTL_BACKSTOP_SECONDS = 7 * 24 * 3600

Kind = Literal["create", "reauthorize"]


class PendingResult(Item):
    """A callback's result awaiting confirmation.

    `create`: the connection item exists with status `pending` and holds the new tokens;
    `status`/`status_reason` are what it becomes when confirmed.
    `reauthorize`: the connection keeps its old tokens; `update` holds the fields (the new
    tokens as `enc_*` envelope blobs, encrypted for the connection's record id) that replace
    them when confirmed."""

    tenant: str
    user: str
    connection_id: str
    kind: Kind
    provider: str
    oauth_client_id: str
    account_sub: str | None = None
    status: ConnectionStatus
    status_reason: str | None = None
    missing_scopes: list[str] = Field(default_factory=list)
    update: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    expires_at: int

    def __repr__(self) -> str:  # `update` holds token blobs
        return f"PendingResult(connection_id={self.connection_id!r}, kind={self.kind!r})"


class PendingResultStore:
    def __init__(self, table: Table, *, clock: Any = now_epoch):
        self.table = table
        self.clock = clock

    @staticmethod
    def key(confirmation_hash: str) -> tuple[str, str]:
        return f"CONFIRM#{confirmation_hash}", "CONFIRM"

    def create(self, confirmation_hash: str, record: PendingResult) -> PendingResult:
        pk, sk = self.key(confirmation_hash)
        self.table.put(
            {
                "pk": pk,
                "sk": sk,
                "due_pk": PENDING_PARTITION,
                "due_at": record.expires_at,
                "ttl": record.expires_at + TTL_BACKSTOP_SECONDS,
                **record.to_item(),
            },
            condition="attribute_not_exists(pk)",
        )
        return record

    def get(self, confirmation_hash: str) -> PendingResult | None:
        item = self.table.get(*self.key(confirmation_hash))
        return PendingResult.from_item(item) if item else None

    def consume(self, confirmation_hash: str, *, unexpired: bool) -> PendingResult | None:
        """The record, deleted in the same write; None if it is gone (used, discarded) or, with
        `unexpired`, past its expiry."""
        condition, values = "attribute_exists(pk)", None
        if unexpired:
            condition, values = "attribute_exists(pk) AND expires_at > :now", {":now": self.clock()}
        try:
            old = self.table.delete(
                *self.key(confirmation_hash), condition=condition, values=values, return_old=True
            )
        except ConditionFailed:
            return None
        return PendingResult.from_item(old) if old else None

    def expired(
        self, *, now: int, start: dict[str, Any] | None = None, limit: int = 1000
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One index page: the hashes of results whose confirmation window closed by `now`, oldest
        first, and where the next page starts (None: no more)."""
        items, last = self.table.query(
            "due_pk = :p AND due_at <= :now",
            {":p": PENDING_PARTITION, ":now": now},
            index=DUE_INDEX,
            limit=limit,
            start_key=start,
        )
        return [str(item["pk"]).removeprefix("CONFIRM#") for item in items], last
