"""Gmail push watches: one item per watched connection, `pk` = `GMAILBOX#{mailbox}`, `sk` =
`WATCH#{connection id}`.

Keyed by mailbox, so a push (which names only the mailbox) finds every connection watching it
with one consistent Query of the table: no index, no scan. Renewals are found like revocation
tombstones: the sparse `ByRefreshDue` index, in a partition of their own (`GMAILWATCH`), with
`due_at` = the next daily renewal.

`history_id` only moves by compare-and-set (`advance`): of two pushes read at the same history id,
one advances it and announces the messages; the other finds it moved and announces nothing.
"""

from __future__ import annotations

from typing import Any

from oauth_broker.store.models import GmailWatchRecord
from oauth_broker.store.table import ConditionFailed, Table

__all__ = ["DUE_PARTITION", "RENEW_INTERVAL_SECONDS", "GmailWatchStore", "mailbox_key"]

DUE_INDEX = "ByRefreshDue"
DUE_PARTITION = "GMAILWATCH"
# Google ends a watch after 7 days and recommends renewing it daily
RENEW_INTERVAL_SECONDS = 24 * 3600


def mailbox_key(mailbox: str) -> str:
    return f"GMAILBOX#{mailbox.strip().lower()}"


class GmailWatchStore:
    def __init__(self, table: Table):
        self.table = table

    @staticmethod
    def key(mailbox: str, connection_id: str) -> tuple[str, str]:
        return mailbox_key(mailbox), f"WATCH#{connection_id}"

    def _item(self, rec: GmailWatchRecord) -> dict[str, Any]:
        pk, sk = self.key(rec.mailbox, rec.connection_id)
        return {
            "pk": pk,
            "sk": sk,
            "due_pk": DUE_PARTITION,
            "due_at": rec.renewed_at + RENEW_INTERVAL_SECONDS,
            **rec.to_item(),
        }

    # -- reads -------------------------------------------------------------------------------
    def get(self, mailbox: str, connection_id: str) -> GmailWatchRecord | None:
        item = self.table.get(*self.key(mailbox, connection_id))
        return GmailWatchRecord.from_item(item) if item else None

    def for_mailbox(self, mailbox: str, *, limit: int = 100) -> list[GmailWatchRecord]:
        """The watches of `mailbox` (at most `limit`), one Query of its partition."""
        items, _ = self.table.query(
            "pk = :p AND begins_with(sk, :w)", {":p": mailbox_key(mailbox), ":w": "WATCH#"}, limit=limit
        )
        return [GmailWatchRecord.from_item(item) for item in items]

    def due(self, *, now: int, limit: int) -> list[tuple[str, str]]:
        """(mailbox key, connection id) of up to `limit` watches whose renewal is due by `now`."""
        items, _ = self.table.query(
            "due_pk = :p AND due_at <= :now", {":p": DUE_PARTITION, ":now": now}, index=DUE_INDEX, limit=limit
        )
        return [
            (str(item["pk"]).removeprefix("GMAILBOX#"), str(item["sk"]).removeprefix("WATCH#"))
            for item in items
            if str(item.get("pk", "")).startswith("GMAILBOX#")
            and str(item.get("sk", "")).startswith("WATCH#")
        ]

    # -- writes ------------------------------------------------------------------------------
    def put(self, rec: GmailWatchRecord, *, expected_version: int | None = None) -> GmailWatchRecord:
        """Writes a new watch (`expected_version` None: none may exist) or replaces the one read at
        `expected_version` (version + 1). `ConditionFailed` when it changed meanwhile."""
        if expected_version is None:
            new = rec.model_copy(update={"version": 1})
            self.table.put(self._item(new), condition="attribute_not_exists(pk)")
            return new
        new = rec.model_copy(update={"version": expected_version + 1})
        self.table.put(self._item(new), condition="version = :v", values={":v": expected_version})
        return new

    def advance(
        self, rec: GmailWatchRecord, history_id: int, *, notified_at: str, updated_at: str
    ) -> GmailWatchRecord | None:
        """Compare-and-set of the history id: from `rec.history_id` to `history_id`. The new
        record, or None when another reader moved it first (or the watch is gone)."""
        pk, sk = self.key(rec.mailbox, rec.connection_id)
        try:
            item = self.table.update(
                pk,
                sk,
                "SET history_id = :new, last_notification_at = :n, updated_at = :u, version = version + :one",
                condition="history_id = :old",
                values={
                    ":new": history_id,
                    ":old": rec.history_id,
                    ":n": notified_at,
                    ":u": updated_at,
                    ":one": 1,
                },
            )
        except ConditionFailed:
            return None
        advanced: GmailWatchRecord = GmailWatchRecord.from_item(item)
        return advanced

    def rewind(self, rec: GmailWatchRecord, advanced_to: int) -> bool:
        """Undoes `advance` (to `rec.history_id`) while nobody moved it further: an announcement
        that could not be published is read again by the next push or redelivery."""
        pk, sk = self.key(rec.mailbox, rec.connection_id)
        try:
            self.table.update(
                pk,
                sk,
                "SET history_id = :old, version = version + :one",
                condition="history_id = :advanced",
                values={":old": rec.history_id, ":advanced": advanced_to, ":one": 1},
                return_values="NONE",
            )
        except ConditionFailed:
            return False
        return True

    def delete(self, mailbox: str, connection_id: str) -> GmailWatchRecord | None:
        """Deletes the watch; the record it was, or None if there was none."""
        old = self.table.delete(*self.key(mailbox, connection_id), return_old=True)
        return GmailWatchRecord.from_item(old) if old else None
