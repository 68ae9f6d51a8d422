"""`PATCH /v1/connections/{id}`: the fields a connection's owner (or a tenant admin) may change.

- `name`;
- `concurrency_level`: 1-25 requests in flight at once, or null for no limit;
- `borrow_concurrency_from`: share the limit of another connection of the tenant that the caller
  can see; not itself; the lender must not borrow in turn, and a connection that lends may not
  borrow (one level only: no chains, no cycles); null stops borrowing;
- `metadata`: a JSON object merged into the stored one as a JSON Merge Patch (RFC 7396: a member
  set to null is removed; `"metadata": null` clears it); at most 4 KB serialized, no empty key
  (DynamoDB refuses an empty map key; moto stored one and then failed every later read of the
  item), at most 16 levels deep (DynamoDB nests 32 at most), and numbers DynamoDB can hold (38
  significant digits, magnitude 1E-130 to below 1E+126, finite) and Unicode text (no lone
  surrogates from `\\ud800` escapes): the fuzzer found each of these a 500.

The write is a compare-and-set on the connection's version: a concurrent change gives 409. A
connection that starts borrowing is written in one transaction with a `ConditionCheck` that its
lender still borrows from nobody (and that connections the index still showed borrowing from it no
longer do): of two racing PATCHes A -> B and B -> A only one lands, the other gets 409 `conflict`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.errors import NotFound, ValidationFailed
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import rfc3339

MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 16
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 25
# A transaction holds 100 operations: the put, the lender's check and these.
MAX_FORMER_BORROWER_CHECKS = 98


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid: {field_name}: {message}",
        errors=[{"loc": ["body", field_name], "msg": message, "type": "value_error"}],
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def metadata_size(metadata: Mapping[str, Any]) -> int:
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def _storable_number(value: float | int) -> bool:
    """What a DynamoDB number holds: 38 significant digits, magnitude 1E-130 to below 1E+126."""
    number = Decimal(str(value))  # as the table stores it (`store.table`)
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    significant = "".join(map(str, number.as_tuple().digits)).strip("0")  # no context: no rounding
    return len(significant) <= 38 and Decimal("1E-130") <= abs(number) < Decimal("1E+126")


def _is_unicode_text(text: str) -> bool:
    """JSON's `\\ud800` escapes decode to lone surrogates, which no UTF-8 (nor DynamoDB) holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def metadata_problem(value: Any, depth: int = 1) -> str | None:
    """Why a (merged) metadata object cannot be stored, or None: an empty key, too deep, or a
    number DynamoDB cannot hold."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _storable_number(value):
            return None
        return "numbers must be finite, at most 38 significant digits, magnitude 1E-130 to 1E+126"
    if isinstance(value, (Mapping, list)) and depth > MAX_METADATA_DEPTH:
        return f"must nest at most {MAX_METADATA_DEPTH} levels deep"
    if isinstance(value, str):
        return None if _is_unicode_text(value) else "strings must be Unicode text (no lone surrogates)"
    children: list[Any] = []
    if isinstance(value, Mapping):
        if any(key == "" for key in value):
            return "keys must not be empty"
        if not all(_is_unicode_text(str(key)) for key in value):
            return "strings must be Unicode text (no lone surrogates)"
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    for child in children:
        problem = metadata_problem(child, depth + 1)
        if problem is not None:
            return problem
    return None


def _borrowers_of(services: Any, tenant: str, connection_id: str) -> tuple[list[str], list[str]]:
    """(connections that borrow from `connection_id`, connections the eventually consistent
    ByTenant index still shows borrowing from it that a consistent read finds no longer do)."""
    items = services.table.query_all(
        "tenant_pk = :t",
        {":t": f"TENANT#{tenant}#CON", ":id": connection_id},
        index="ByTenant",
        filter_expression="borrow_concurrency_from = :id",
    )
    borrowers: list[str] = []
    former: list[str] = []
    for item in items:
        current = services.connections.get(str(item["id"]))
        if current is None:
            continue
        (borrowers if current.borrow_concurrency_from == connection_id else former).append(current.id)
        if borrowers or len(former) >= MAX_FORMER_BORROWER_CHECKS:
            break
    return borrowers, former


def _check_lender(services: Any, principal: Principal, conn: ConnectionRecord, lender_id: str) -> list[str]:
    """Refuses (422) what would make a chain or a cycle; returns the former borrowers of `conn`
    that the transaction must check (`ConnectionStore.save_borrowing`)."""
    if lender_id == conn.id:
        raise _invalid("borrow_concurrency_from", "a connection cannot borrow from itself")
    try:
        lender = services.connections.get_visible(principal, lender_id)
    except NotFound:
        raise _invalid("borrow_concurrency_from", f"no connection {lender_id} that you can see") from None
    if lender.tenant != conn.tenant:
        raise _invalid("borrow_concurrency_from", f"no connection {lender_id} that you can see")
    if lender.borrow_concurrency_from:
        raise _invalid("borrow_concurrency_from", "the lender borrows from another connection itself")
    borrowers, former = _borrowers_of(services, conn.tenant, conn.id)
    if borrowers:
        raise _invalid("borrow_concurrency_from", "other connections borrow from this one: it cannot borrow")
    return former


def update_connection(
    services: Any, principal: Principal, connection_id: str, changes: Mapping[str, Any]
) -> ConnectionRecord:
    """Applies `changes` (only the fields present in the request) and saves with the version."""
    conn: ConnectionRecord = services.connections.get_visible(principal, connection_id)
    update: dict[str, Any] = {}
    former_borrowers: list[str] | None = None  # set when the connection starts borrowing
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not name.strip():
            raise _invalid("name", "must be a non-empty string")
        update["name"] = name.strip()
    if "concurrency_level" in changes:
        level = changes["concurrency_level"]
        if level is not None and (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not MIN_CONCURRENCY <= level <= MAX_CONCURRENCY
        ):
            raise _invalid("concurrency_level", f"must be {MIN_CONCURRENCY}-{MAX_CONCURRENCY} or null")
        update["concurrency_level"] = level
    if "borrow_concurrency_from" in changes:
        lender = changes["borrow_concurrency_from"]
        if lender is not None:
            if not isinstance(lender, str):
                raise _invalid("borrow_concurrency_from", "must be a connection id or null")
            former_borrowers = _check_lender(services, principal, conn, lender)
        update["borrow_concurrency_from"] = lender
    if "metadata" in changes:
        patch = changes["metadata"]
        if patch is not None and not isinstance(patch, Mapping):
            raise _invalid("metadata", "must be a JSON object or null")
        merged = {} if patch is None else merge_patch(conn.metadata, patch)
        problem = metadata_problem(merged)
        if problem is not None:
            raise _invalid("metadata", problem)
        if metadata_size(merged) > MAX_METADATA_BYTES:
            raise _invalid("metadata", f"must be at most {MAX_METADATA_BYTES} bytes serialized")
        update["metadata"] = merged
    if not update:
        return conn
    update["updated_at"] = rfc3339()
    changed = conn.model_copy(update=update)
    if former_borrowers is not None and changed.borrow_concurrency_from:
        # in one transaction with checks on the lender and the former borrowers: two racing
        # PATCHes (A -> B, B -> A) cannot both land and close a cycle
        borrowing: ConnectionRecord = services.connections.save_borrowing(
            changed,
            expected_version=conn.version,
            lender_id=changed.borrow_concurrency_from,
            former_borrowers=former_borrowers,
        )
        return borrowing
    saved: ConnectionRecord = services.connections.save(changed, expected_version=conn.version)
    return saved
