"""`AuditStore`: the tenant's append-only audit records, newest first.

Items live in the tenant's own partition, `pk` = `AUDIT#{tenant}`, `sk` = `{occurred_at}#{id}`:
a Query reads them newest first, a time window is a key condition, and another tenant's records
are out of reach (the partition is the caller's tenant; a cursor is bound to it). A record is only
ever put, with a condition that it does not exist yet: nothing here updates or deletes one (the
functions' IAM allows PutItem on `AUDIT#` and nothing else). DynamoDB's TTL removes a record
`ttl` (epoch seconds: occurred + the retention) after it happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.table import ConditionFailed, Table

__all__ = ["AuditFilter", "AuditStore", "audit_partition"]

# The filtered Query reads pages of `limit` items; a listing stops after this many reads, with a
# cursor, rather than scan a long history for a rare match in one request.
MAX_READS_PER_PAGE = 10
# after every `{occurred_at}#{id}` of the same instant ('~' sorts after the ids' characters)
_AFTER_INSTANT = "#~"


def audit_partition(tenant: str) -> str:
    return f"AUDIT#{tenant}"


@dataclass(frozen=True)
class AuditFilter:
    """What a listing keeps: `since`/`until` are `occurred_at` values (inclusive), in the
    records' own format (`oauth_broker.audit.instant`), so they compare as the sort key does."""

    resource: str | None = None
    actor: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None


class AuditStore:
    def __init__(self, table: Table):
        self.table = table

    def append(self, item: Mapping[str, Any], *, ttl: int) -> bool:
        """Writes one record (`item` has `tenant`, `occurred_at`, `id`); False when a record with
        its key exists already (a retried write that had landed: records are never overwritten)."""
        key = {"pk": audit_partition(item["tenant"]), "sk": f"{item['occurred_at']}#{item['id']}"}
        try:
            self.table.put({**key, "ttl": ttl, **item}, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def list(
        self, tenant: str, query: AuditFilter, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the tenant's records matching `query`, newest first, and the next cursor."""
        partition = audit_partition(tenant)
        start = decode_cursor(cursor, partition_attr="pk", partition_value=partition)
        condition, values = self._key_condition(partition, query)
        filters, names = self._filter(query, values)
        found: list[dict[str, Any]] = []
        last: dict[str, Any] | None = start
        for _ in range(MAX_READS_PER_PAGE):
            items, last = self.table.query(
                condition,
                values,
                names=names or None,
                limit=limit - len(found),
                start_key=last,
                forward=False,
                filter_expression=filters,
            )
            found.extend(items)
            if len(found) >= limit or last is None:
                break
        return [_record(i) for i in found], encode_cursor(last)

    @staticmethod
    def _key_condition(partition: str, query: AuditFilter) -> tuple[str, dict[str, Any]]:
        values: dict[str, Any] = {":p": partition}
        if query.since and query.until:
            values.update({":since": query.since, ":until": query.until + _AFTER_INSTANT})
            return "pk = :p AND sk BETWEEN :since AND :until", values
        if query.since:
            values[":since"] = query.since
            return "pk = :p AND sk >= :since", values
        if query.until:
            values[":until"] = query.until + _AFTER_INSTANT
            return "pk = :p AND sk <= :until", values
        return "pk = :p", values

    @staticmethod
    def _filter(query: AuditFilter, values: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
        clauses: list[str] = []
        names: dict[str, str] = {}
        if query.resource:
            names.update({"#resource": "resource", "#id": "id"})
            values[":resource"] = query.resource
            clauses.append("#resource.#id = :resource")
        if query.actor:
            names.update({"#actor": "actor", "#id": "id", "#obo": "on_behalf_of"})
            values[":actor"] = query.actor
            clauses.append("(#actor.#id = :actor OR #actor.#obo = :actor)")
        if query.action:
            names["#action"] = "action"
            values[":action"] = query.action
            clauses.append("#action = :action")
        return (" AND ".join(clauses) or None), names


def _record(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "ttl")}
