"""Connections: one item per grant, readable by id, by owner, by tenant, by the grant at the
provider (ByProviderClient: the client id there and the account) and by a token identifier of its
refresh token (`TOKID#` lookup items, see `by_token_identifier`); CAS on `version`."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import Any

from oauth_broker.auth.principal import Principal
from oauth_broker.crypto.token_identifiers import identifier_digest
from oauth_broker.errors import NotFound
from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.oauth_clients import provider_client_key
from oauth_broker.store.schedule import USE_RECORD_INTERVAL_SECONDS, RefreshSchedule
from oauth_broker.store.table import ConditionFailed, Table

DUE_SHARDS = 8
# compare-and-set attempts of `save_change` before it gives up on a connection that keeps changing
CHANGE_ATTEMPTS = 5
# `status_reason` of connections revoked because an admin disabled their provider (restorable).
PROVIDER_DISABLED = "provider_disabled"
# A filter expression's IN takes at most 100 operands.
MAX_FILTER_CLIENTS = 100
REFRESHABLE = (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)


def holds_live_grant(rec: ConnectionRecord) -> bool:
    """Whether the connection relies on its grant at the provider: `active` or `partial`, or
    `revoked` only because its provider is disabled (it keeps its tokens for re-enabling). Not
    `pending` (a result nobody confirmed is never a reason to keep a grant alive) nor
    `needs_reauth` (the provider already refuses its grant)."""
    if rec.status in REFRESHABLE:
        return True
    return rec.status == ConnectionStatus.REVOKED and rec.status_reason == PROVIDER_DISABLED


def _shares_grant(
    other: ConnectionRecord, rec: ConnectionRecord, clients: list[str], *, include_self: bool
) -> bool:
    return (
        (include_self or other.id != rec.id)
        and other.tenant == rec.tenant
        and other.account_sub == rec.account_sub
        and other.oauth_client_id in clients
        and holds_live_grant(other)
    )


def _digests_follow_token(rec: ConnectionRecord) -> ConnectionRecord:
    """No refresh token, no identifier digests (a discarded token leaves no lookup item)."""
    if rec.enc_refresh_token or rec.rt_digests is None:
        return rec
    return rec.model_copy(update={"rt_digests": None})


def _no_newer_use(new: ConnectionRecord, values: dict[str, Any]) -> str:
    """The condition that the stored `last_used_at` is no newer than `new`'s (its value added to
    `values`): a use recorded meanwhile (`record_use`, no version bump) is never lost."""
    if new.last_used_at is None:
        return "attribute_not_exists(last_used_at)"
    values[":u"] = new.last_used_at
    return "(attribute_not_exists(last_used_at) OR last_used_at <= :u)"


def due_shard(connection_id: str) -> str:
    return f"DUE#{zlib.crc32(connection_id.encode()) % DUE_SHARDS}"


class ConnectionStore:
    """`schedule` computes the refresh-due index's `due_at` (default: `refresh_ahead_seconds`, a day of
    activity, a daily liveness refresh)."""

    def __init__(
        self, table: Table, *, refresh_ahead_seconds: int = 300, schedule: RefreshSchedule | None = None
    ):
        self.table = table
        self.refresh_ahead = refresh_ahead_seconds
        self.schedule = schedule or RefreshSchedule(refresh_ahead=refresh_ahead_seconds)

    # -- keys --------------------------------------------------------------------------------
    @staticmethod
    def key(connection_id: str) -> tuple[str, str]:
        return f"CON#{connection_id}", "CON"

    @staticmethod
    def token_key(digest: str) -> tuple[str, str]:
        """The lookup item of one refresh-token identifier digest (`ConnectionRecord.rt_digests`)."""
        return f"TOKID#{digest}", "TOKID"

    def _item(self, rec: ConnectionRecord) -> dict[str, Any]:
        pk, sk = self.key(rec.id)
        item: dict[str, Any] = {
            "pk": pk,
            "sk": sk,
            "owner_pk": f"TENANT#{rec.tenant}#USER#{rec.owner}",
            "owner_sk": f"CON#{rec.created_at}#{rec.id}",
            "tenant_pk": f"TENANT#{rec.tenant}#CON",
            "tenant_sk": f"CON#{rec.created_at}#{rec.id}",
            **rec.to_item(),
        }
        # Sparse grant index: connections whose grant at the provider is known (client id there and
        # account), for shared-grant lookups and the provider's security events.
        if rec.provider_client_id and rec.account_sub:
            item["pclient_pk"] = provider_client_key(rec.provider_client_id)
            item["pclient_sk"] = f"CON#{rec.account_sub}#{rec.tenant}#{rec.id}"
        # Sparse refresh-due index: only connections that can and should be refreshed, at their
        # next refresh-ahead or liveness time (`store.schedule`).
        due_at = self.schedule.due_at(rec)
        if due_at is not None:
            item["due_pk"] = due_shard(rec.id)
            item["due_at"] = due_at
        return item

    # -- reads -------------------------------------------------------------------------------
    def get(self, connection_id: str) -> ConnectionRecord | None:
        item = self.table.get(*self.key(connection_id))
        return ConnectionRecord.from_item(item) if item else None

    def get_visible(self, principal: Principal, connection_id: str) -> ConnectionRecord:
        """The connection if the caller may see it; otherwise 404 (never 403: ids don't leak)."""
        rec = self.get(connection_id) if connection_id.startswith("con_") else None
        if rec is None or not principal.can_access(rec.tenant, rec.owner):
            raise NotFound(f"connection {connection_id} not found")
        return rec

    def list_for(
        self, principal: Principal, *, user: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ConnectionRecord], str | None]:
        """Own connections; an admin's whole tenant (optionally one `user`)."""
        if principal.is_admin and user is None:
            index, attr, part = "ByTenant", "tenant_pk", f"TENANT#{principal.tenant}#CON"
        else:
            owner = user if principal.is_admin and user else principal.user
            index, attr, part = "ByOwner", "owner_pk", f"TENANT#{principal.tenant}#USER#{owner}"
        start = decode_cursor(cursor, partition_attr=attr, partition_value=part)
        items, last = self.table.query(
            f"{attr} = :p", {":p": part}, index=index, limit=limit, start_key=start
        )
        return [ConnectionRecord.from_item(i) for i in items], encode_cursor(last)

    def by_account(
        self, client_id: str, account_sub: str, *, tenant: str | None = None
    ) -> list[ConnectionRecord]:
        """Every connection (of `tenant`, or of any tenant) of the account `account_sub` through an
        OAuth client whose id at the provider is `client_id`: Queries of the ByProviderClient index
        (keys only, eventually consistent), each match then read consistently. Connections made
        before the index existed (no `provider_client_id`) are not found."""
        prefix = f"CON#{account_sub}#" + (f"{tenant}#" if tenant is not None else "")
        items = self.table.query_all(
            "pclient_pk = :p AND begins_with(pclient_sk, :s)",
            {":p": provider_client_key(client_id), ":s": prefix},
            index="ByProviderClient",
        )
        found: list[ConnectionRecord] = []
        for item in items:
            connection_id = str(item["pk"]).removeprefix("CON#")
            current = self.get(connection_id)
            if (
                current is not None
                and current.provider_client_id == client_id
                and current.account_sub == account_sub
                and (tenant is None or current.tenant == tenant)
            ):
                found.append(current)
        return found

    def grant_siblings(
        self, rec: ConnectionRecord, *, oauth_client_ids: Iterable[str] = (), include_self: bool = False
    ) -> list[ConnectionRecord]:
        """The tenant's other connections that hold the same grant at the provider as `rec`: the
        same account (`account_sub`) through the same OAuth client (`rec.oauth_client_id`, or one
        of `oauth_client_ids`: the tenant's other clients with the same client id at the provider),
        and live (`holds_live_grant`: active or partial, or revoked only while its provider is
        disabled).
        With `include_self`, the stored connection `rec.id` counts too. Empty without an
        `account_sub`.

        Through the ByProviderClient index (`by_account`) when `rec` knows its client id at the
        provider. A connection made before that index (no `provider_client_id`) is matched the old
        way: one Query of the ByTenant index per page, filtered; either index is eventually
        consistent, so every match is confirmed with a consistent read of its item.
        """
        if not rec.account_sub:
            return []
        if rec.provider_client_id:
            return [
                other
                for other in self.by_account(rec.provider_client_id, rec.account_sub, tenant=rec.tenant)
                if (include_self or other.id != rec.id) and holds_live_grant(other)
            ]
        others = sorted(set(oauth_client_ids) - {rec.oauth_client_id})
        clients = [rec.oauth_client_id, *others][:MAX_FILTER_CLIENTS]
        values: dict[str, Any] = {
            ":p": f"TENANT#{rec.tenant}#CON",
            ":sub": rec.account_sub,
            ":active": ConnectionStatus.ACTIVE.value,
            ":partial": ConnectionStatus.PARTIAL.value,
            ":revoked": ConnectionStatus.REVOKED.value,
            ":disabled": PROVIDER_DISABLED,
            **{f":c{i}": client for i, client in enumerate(clients)},
        }
        names = {"#status": "status", "#reason": "status_reason"}
        not_self = ""
        if not include_self:
            values[":id"], names["#id"], not_self = rec.id, "id", " AND #id <> :id"
        in_clients = ", ".join(f":c{i}" for i in range(len(clients)))
        items = self.table.query_all(
            "tenant_pk = :p",
            values,
            index="ByTenant",
            names=names,
            filter_expression=(
                f"account_sub = :sub{not_self} AND oauth_client_id IN ({in_clients})"
                " AND (#status IN (:active, :partial) OR (#status = :revoked AND #reason = :disabled))"
            ),
        )
        siblings: list[ConnectionRecord] = []
        for item in items:
            current = self.get(str(item["id"]))
            if current is not None and _shares_grant(current, rec, clients, include_self=include_self):
                siblings.append(current)
        return siblings

    def by_token_identifier(self, alg: str, token: str) -> ConnectionRecord | None:
        """The connection whose CURRENT refresh token a provider's security event names by a token
        identifier (`alg`: `prefix`, the first 16 characters of `token` count, or
        `hash_base64_sha512_sha512`), or None. Two consistent GetItems: the `TOKID#` lookup item
        of the identifier's digest, then the connection it names, which must still hold that
        digest in `rt_digests` (a lookup item left by a token since replaced never matches)."""
        digest = identifier_digest(alg, token)
        if digest is None:
            return None
        lookup = self.table.get(*self.token_key(digest))
        if lookup is None:
            return None
        rec = self.get(str(lookup.get("connection_id", "")))
        if rec is None or rec.tenant != lookup.get("tenant") or digest not in (rec.rt_digests or ()):
            return None
        return rec

    # -- writes ------------------------------------------------------------------------------
    # Every write that changes a connection's refresh token changes its `rt_digests` (computed
    # where the plaintext is encrypted, `crypto.token_identifiers`); `create`, `save` and `delete`
    # write the `TOKID#` lookup items of the digests that appear and delete those that go in the
    # same TransactWriteItems as the connection item, conditional on the digests stored: the
    # lookup items are always those of the connections' current refresh tokens.
    def _token_ops(
        self, rec: ConnectionRecord, old: list[str] | None, new: list[str] | None
    ) -> list[dict[str, Any]]:
        gone, added = set(old or ()) - set(new or ()), set(new or ()) - set(old or ())
        return [
            *(
                self.table.put_op({"pk": pk, "sk": sk, "connection_id": rec.id, "tenant": rec.tenant})
                for pk, sk in map(self.token_key, sorted(added))
            ),
            *(self.table.delete_op(*self.token_key(d)) for d in sorted(gone)),
        ]

    @staticmethod
    def _digests_condition(digests: list[str] | None, values: dict[str, Any]) -> str:
        """That the stored item's `rt_digests` are `digests` (element by element: scalars)."""
        if not digests:
            return "attribute_not_exists(rt_digests)"
        values.update({f":rt{i}": d for i, d in enumerate(digests)})
        return "(" + " AND ".join(f"rt_digests[{i}] = :rt{i}" for i in range(len(digests))) + ")"

    def create(self, rec: ConnectionRecord) -> ConnectionRecord:
        rec = _digests_follow_token(rec)
        ops = self._token_ops(rec, None, rec.rt_digests)
        if not ops:
            self.table.put(self._item(rec), condition="attribute_not_exists(pk)")
        else:
            put = self.table.put_op(self._item(rec), condition="attribute_not_exists(pk)")
            self.table.transact_write([put, *ops])
        return rec

    def save_change(
        self,
        rec: ConnectionRecord,
        change: Callable[[ConnectionRecord], ConnectionRecord | None],
        *,
        attempts: int = CHANGE_ATTEMPTS,
    ) -> ConnectionRecord | None:
        """Saves `change(current)` with a compare-and-set, from `rec`; on a lost race re-reads the
        connection and applies `change` again (`attempts` in all). None: nothing to do (`change`
        answered None, or the connection is gone). `ConditionFailed` when it kept changing."""
        current: ConnectionRecord | None = rec
        for _ in range(attempts):
            if current is None:
                return None
            new = change(current)
            if new is None:
                return None
            try:
                return self.save(new, expected_version=current.version)
            except ConditionFailed:
                current = self.get(rec.id)
        raise ConditionFailed("the connection kept changing; retry")

    def save(
        self, rec: ConnectionRecord, *, expected_version: int, previous: ConnectionRecord | None = None
    ) -> ConnectionRecord:
        """Compare-and-set: writes `rec` with version+1 only if the stored version is `expected_version`.

        Raises `ConditionFailed` (a `Conflict`) when another writer got there first.

        `last_used_at` is the one attribute written without a version bump (`record_use`), so a
        use recorded between the caller's read and this write is neither lost nor a conflict: the
        put also requires the stored `last_used_at` to be no newer than `rec`'s; when only that
        failed (same version), the newer use is taken over (with the due time it implies) and
        the put retried.

        Refresh-token identifier digests: the write also requires the stored `rt_digests` to be
        `previous`'s (the record read at `expected_version`; without it, `rec`'s: unchanged).
        When `rec`'s differ, the `TOKID#` lookup items of the new digests are put and those of the
        old ones deleted in the same transaction. A caller that changes the refresh token without
        passing `previous` costs one refused write and a read: when only the digests differed
        (same version), the write is retried from the stored ones.
        """
        new = _digests_follow_token(rec.model_copy(update={"version": expected_version + 1}))
        old = previous.rt_digests if previous is not None else rec.rt_digests
        for _ in range(4):
            values: dict[str, Any] = {":v": expected_version}
            unchanged_use = _no_newer_use(new, values)
            condition = f"version = :v AND {unchanged_use} AND {self._digests_condition(old, values)}"
            ops = self._token_ops(new, old, new.rt_digests)
            try:
                if ops:
                    put = self.table.put_op(self._item(new), condition=condition, values=values)
                    self.table.transact_write([put, *ops])
                else:
                    self.table.put(self._item(new), condition=condition, values=values)
                return new
            except ConditionFailed as failed:
                if ops and failed.failed_at != (0,):
                    raise  # lost to a concurrent transaction
                stored = self.get(rec.id)
                if stored is None or stored.version != expected_version:
                    raise
                newer_use = (stored.last_used_at or 0) > (new.last_used_at or 0)
                if not newer_use and (stored.rt_digests or None) == (old or None):
                    raise
                old = stored.rt_digests
                if newer_use:
                    new = new.model_copy(update={"last_used_at": stored.last_used_at})
        raise ConditionFailed("the item changed concurrently; retry with fresh data")

    def save_borrowing(
        self,
        rec: ConnectionRecord,
        *,
        expected_version: int,
        lender_id: str,
        former_borrowers: Iterable[str] = (),
    ) -> ConnectionRecord:
        """`save` of a connection that starts borrowing from `lender_id`, in one TransactWriteItems
        with a `ConditionCheck` that the lender (of the same tenant) borrows from nobody, and one
        per id of `former_borrowers` (connections the eventually consistent ByTenant index still
        showed borrowing from `rec`, that a consistent read found no longer do) that it still does
        not. Of two concurrent PATCHes A -> B and B -> A at most one lands: each one's put changes
        the item the other one checks. `ConditionFailed` (409) when any condition fails or the
        transaction loses to a concurrent one; the same `last_used_at` rule as `save`."""
        new = rec.model_copy(update={"version": expected_version + 1})
        checks = [
            self.table.check_op(
                *self.key(lender_id),
                "tenant = :t AND attribute_not_exists(borrow_concurrency_from)",
                values={":t": rec.tenant},
            ),
            *(
                self.table.check_op(
                    *self.key(other),
                    "attribute_not_exists(borrow_concurrency_from) OR borrow_concurrency_from <> :me",
                    values={":me": rec.id},
                )
                for other in former_borrowers
            ),
        ]
        for _ in range(3):
            values: dict[str, Any] = {":v": expected_version}
            unchanged_use = _no_newer_use(new, values)
            put = self.table.put_op(
                self._item(new), condition=f"version = :v AND {unchanged_use}", values=values
            )
            try:
                self.table.transact_write([put, *checks])
                return new
            except ConditionFailed as failed:
                if failed.failed_at != (0,):
                    raise
                stored = self.get(rec.id)
                if (
                    stored is None
                    or stored.version != expected_version
                    or (stored.last_used_at or 0) <= (new.last_used_at or 0)
                ):
                    raise
                new = new.model_copy(update={"last_used_at": stored.last_used_at})
        raise ConditionFailed("the item changed concurrently; retry with fresh data")

    def record_use(
        self, rec: ConnectionRecord, now: int, *, interval: int = USE_RECORD_INTERVAL_SECONDS
    ) -> bool:
        """Records that `rec`'s token was used at `now` (epoch seconds): one conditional UpdateItem
        that sets `last_used_at` and moves `due_at` to what the schedule says for a connection
        used now (an idle connection is refreshed ahead again). No version bump: it never makes a
        concurrent compare-and-set fail (`save` keeps the newer use).

        Written only if the stored item is still `rec`'s version (the due time is computed from it)
        and its last recorded use is older than `interval` seconds: at most one write an hour per
        connection, whatever the number of containers. False when the condition refused it.
        """
        pk, sk = self.key(rec.id)
        due_at = self.schedule.due_at(rec.model_copy(update={"last_used_at": now}))
        values: dict[str, Any] = {":now": now, ":v": rec.version, ":stale": now - interval}
        expression = "SET last_used_at = :now"
        if due_at is not None:
            expression += ", due_pk = :shard, due_at = :due"
            values[":shard"], values[":due"] = due_shard(rec.id), due_at
        try:
            self.table.update(
                pk,
                sk,
                expression,
                condition="version = :v AND (attribute_not_exists(last_used_at) OR last_used_at <= :stale)",
                values=values,
                return_values="NONE",
            )
        except ConditionFailed:
            return False
        return True

    def reschedule(self, rec: ConnectionRecord) -> bool:
        """Rewrites `rec`'s `due_at` from the schedule (the sweep met it before it was due: an item
        written by an older rule). Conditional on `rec`'s version; no version bump. False when the
        item changed meanwhile (its writer wrote the due time already)."""
        pk, sk = self.key(rec.id)
        due_at = self.schedule.due_at(rec)
        values: dict[str, Any] = {":v": rec.version}
        if due_at is None:
            expression = "REMOVE due_pk, due_at"
        else:
            expression = "SET due_pk = :shard, due_at = :due"
            values[":shard"], values[":due"] = due_shard(rec.id), due_at
        try:
            self.table.update(
                pk, sk, expression, condition="version = :v", values=values, return_values="NONE"
            )
        except ConditionFailed:
            return False
        return True

    def delete(self, connection_id: str) -> None:
        """Deletes the connection and the lookup items of its refresh token's identifiers: a
        consistent read, then one write conditional on the version read (retried when it moved)."""
        for _ in range(5):
            stored = self.get(connection_id)
            if stored is None:
                return
            condition, values = "version = :v", {":v": stored.version}
            ops = self._token_ops(stored, stored.rt_digests, None)
            try:
                if ops:
                    con = self.table.delete_op(*self.key(connection_id), condition=condition, values=values)
                    self.table.transact_write([con, *ops])
                else:
                    self.table.delete(*self.key(connection_id), condition=condition, values=values)
                return
            except ConditionFailed:
                continue
        raise ConditionFailed("the item changed concurrently; retry with fresh data")
