"""Confirming a connection: a connect flow's result is bound to the user who started it (API.md,
"Confirming a connection").

A connect session's `authorize_url` is a bearer link: whoever opens it consents with their own
account. So the callback only *holds* what it obtained (`hold`), and hands a single-use
confirmation to the app's `return_to`. The result becomes live only when the principal that
created the session presents it (`confirm`): same tenant and user (an API key acting
`X-On-Behalf-Of` that user counts). Anyone else presenting it gets 404 and spends it: the result is
discarded (`discard`). Results nobody confirms within 10 minutes are discarded by the sweep
(`discard_expired`).

Discarding revokes the grant the result obtained, unless a live connection of the tenant holds
that same grant (Google revokes whole grants): a new connection is revoked and deleted like a
disconnect, without events (it was never announced); a re-authorization's held tokens are revoked
unless the connection itself (or another) still relies on the grant.

Runs in the callback function (confirm, and the discard a wrong principal causes) and the refresh
function (the sweep): both may decrypt refresh tokens and client secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oauth_broker import audit
from oauth_broker.errors import NotFound
from oauth_broker.ids import random_token, sha256_hex
from oauth_broker.observability import logger
from oauth_broker.store.confirmations import CONFIRMATION_TTL_SECONDS, PendingResult, PendingResultStore
from oauth_broker.store.connections import PROVIDER_DISABLED
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import ConditionFailed
from oauth_broker.timeutil import now_epoch, rfc3339

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.store.sessions import FlowContext

CONFIRMATION_PREFIX = "cfm"
MAX_CONFIRMATION_LENGTH = 128
_SAVE_ATTEMPTS = 5


def pending_results(services: Any) -> PendingResultStore:
    return services.singleton(  # type: ignore[no-any-return]
        "pending_result_store", lambda: PendingResultStore(services.table)
    )


def hold(
    services: Any,
    flow: FlowContext,
    *,
    connection_id: str,
    kind: str,
    account_sub: str | None,
    status: ConnectionStatus,
    status_reason: str | None,
    missing_scopes: tuple[str, ...],
    update: dict[str, Any] | None = None,
) -> str:
    """Stores a callback's result as pending; returns the confirmation (`cfm_` + 256 bits), which
    exists nowhere else: the table keeps its SHA-256."""
    confirmation = random_token(CONFIRMATION_PREFIX)
    now = now_epoch()
    pending_results(services).create(
        sha256_hex(confirmation),
        PendingResult(
            tenant=flow.tenant,
            user=flow.user,
            connection_id=connection_id,
            kind=kind,  # type: ignore[arg-type]
            provider=flow.provider,
            oauth_client_id=flow.oauth_client_id,
            account_sub=account_sub,
            status=status,
            status_reason=status_reason,
            missing_scopes=list(missing_scopes),
            update={k: v for k, v in (update or {}).items() if v is not None},
            created_at=rfc3339(now),
            expires_at=now + CONFIRMATION_TTL_SECONDS,
        ),
    )
    return confirmation


def _hash_of(confirmation: str) -> str | None:
    if (
        not isinstance(confirmation, str)
        or len(confirmation) > MAX_CONFIRMATION_LENGTH
        or not confirmation.startswith(f"{CONFIRMATION_PREFIX}_")
    ):
        return None
    return sha256_hex(confirmation)


def _not_found() -> NotFound:
    return NotFound("no pending connect result for this confirmation: it is unknown, used or expired")


def confirm(services: Any, principal: Principal, confirmation: str, *, deadline: float) -> ConnectionRecord:
    """Makes the result live for its creator; 404 for anything else (and, for another principal,
    the result is discarded)."""
    digest = _hash_of(confirmation)
    if digest is None:
        raise _not_found()
    store = pending_results(services)
    pending = store.get(digest)
    if pending is None or pending.expires_at <= now_epoch():
        raise _not_found()
    if (pending.tenant, pending.user) != (principal.tenant, principal.user):
        logger.warning(
            "confirmation presented by another principal: the pending result is discarded",
            extra={"tenant": pending.tenant, "connection_id": pending.connection_id},
        )
        discard(services, digest, deadline=deadline, reason="presented_by_another_principal")
        raise _not_found()
    pending = store.consume(digest, unexpired=True)
    if pending is None:
        raise _not_found()
    if pending.kind == "create":
        conn = _confirm_new(services, pending)
    else:
        conn = _confirm_reauthorization(services, pending, deadline=deadline)
    logger.info(
        "connect result confirmed",
        extra={"tenant": conn.tenant, "connection_id": conn.id, "kind": pending.kind},
    )
    audit.note(
        resource_id=conn.id, kind=pending.kind, provider=conn.provider, connection_status=conn.status.value
    )
    return conn


def _live_fields(conn: ConnectionRecord, status: ConnectionStatus, reason: str | None) -> dict[str, Any]:
    """The status change, or, while an admin has the provider disabled, what re-enabling restores."""
    if conn.status == ConnectionStatus.REVOKED and conn.status_reason == PROVIDER_DISABLED:
        return {"status_before_disable": status, "status_reason_before_disable": reason}
    return {"status": status, "status_reason": reason}


def _confirm_new(services: Any, pending: PendingResult) -> ConnectionRecord:
    for _ in range(_SAVE_ATTEMPTS):
        conn: ConnectionRecord | None = services.connections.get(pending.connection_id)
        if conn is None or conn.tenant != pending.tenant or not _is_pending(conn):
            raise _not_found()
        update = {**_live_fields(conn, pending.status, pending.status_reason), "updated_at": rfc3339()}
        try:
            saved: ConnectionRecord = services.connections.save(
                conn.model_copy(update=update), expected_version=conn.version
            )
        except ConditionFailed:
            continue
        services.publisher.publish("created", saved, missing_scopes=pending.missing_scopes or None)
        return saved
    raise ConditionFailed("the connection kept changing; try again")


def _confirm_reauthorization(services: Any, pending: PendingResult, *, deadline: float) -> ConnectionRecord:
    from oauth_broker.tokens.revocation import ConnectionRevoker

    revoker = ConnectionRevoker(services)
    for _ in range(_SAVE_ATTEMPTS):
        conn: ConnectionRecord | None = services.connections.get(pending.connection_id)
        if (
            conn is None
            or conn.tenant != pending.tenant
            or conn.owner != pending.user
            or conn.provider != pending.provider
            or (conn.account_sub and pending.account_sub and conn.account_sub != pending.account_sub)
        ):
            revoker.revoke_held_grant(_held(pending, conn), deadline=deadline)
            raise _not_found()
        update = {
            **pending.update,
            **_live_fields(conn, pending.status, pending.status_reason),
            "updated_at": rfc3339(),
        }
        try:
            # new tokens: their identifier digests replace the old ones' lookup items (`previous`)
            saved: ConnectionRecord = services.connections.save(
                conn.model_copy(update=update), expected_version=conn.version, previous=conn
            )
        except ConditionFailed:
            continue
        revoker.refresher.forget(saved.id)
        services.publisher.publish("updated", saved, missing_scopes=pending.missing_scopes or None)
        if "enc_refresh_token" in pending.update and conn.enc_refresh_token:
            revoker.revoke_replaced_refresh_token(conn, saved, deadline=deadline)
        return saved
    raise ConditionFailed("the connection kept changing; try again")


def _is_pending(conn: ConnectionRecord) -> bool:
    return conn.status == ConnectionStatus.PENDING or (
        conn.status == ConnectionStatus.REVOKED
        and conn.status_reason == PROVIDER_DISABLED
        and conn.status_before_disable == ConnectionStatus.PENDING
    )


def _held(pending: PendingResult, conn: ConnectionRecord | None) -> ConnectionRecord:
    """A re-authorization's held tokens as a record of the connection they were encrypted for."""
    fields = {
        k: pending.update[k]
        for k in ("enc_access_token", "enc_refresh_token", "expires_at")
        if k in pending.update
    }
    base = {
        "id": pending.connection_id,
        "tenant": pending.tenant,
        "owner": pending.user,
        "name": conn.name if conn else pending.connection_id,
        "provider": pending.provider,
        "oauth_client_id": pending.oauth_client_id,
        "account_sub": pending.account_sub or (conn.account_sub if conn else None),
        "created_at": pending.created_at,
        "updated_at": pending.created_at,
        "enc_access_token": None,
        "enc_refresh_token": None,
        "expires_at": None,
    }
    return ConnectionRecord.model_validate({**base, **fields})


def discard(
    services: Any, confirmation_hash: str, *, deadline: float, reason: str = "not_confirmed_in_time"
) -> bool:
    """Consumes a pending result and revokes what it obtained (unless a live connection of the
    tenant shares the grant), recorded in the tenant's audit trail (actor `system`) as
    `connection.discarded` with `reason`. False when it was already confirmed or discarded."""
    from oauth_broker.tokens.revocation import ConnectionRevoker

    pending = pending_results(services).consume(confirmation_hash, unexpired=False)
    if pending is None:
        return False
    revoker = ConnectionRevoker(services)
    if pending.kind == "create":
        conn: ConnectionRecord | None = services.connections.get(pending.connection_id)
        outcome: str = "connection_gone"
        if conn is not None and conn.tenant == pending.tenant and _is_pending(conn):
            report = revoker.revoke_and_delete(pending.tenant, conn.id, deadline=deadline, announce=False)
            outcome = report.outcome
    else:
        outcome = revoker.revoke_held_grant(
            _held(pending, services.connections.get(pending.connection_id)), deadline=deadline
        )
    logger.info(
        "pending connect result discarded",
        extra={
            "tenant": pending.tenant,
            "connection_id": pending.connection_id,
            "kind": pending.kind,
            "provider_revocation": outcome,
        },
    )
    audit.record_system(
        services,
        tenant=pending.tenant,
        action="connection.discarded",
        resource_type="connection",
        resource_id=pending.connection_id,
        details={"kind": pending.kind, "revocation": outcome, "reason": reason},
    )
    return True


def discard_expired(services: Any, *, now: int, time_left: Any) -> tuple[int, int]:
    """Discards every result whose confirmation window closed by `now`, while `time_left()` (seconds)
    allows; what is left waits for the next sweep. Returns (discarded, index pages read)."""
    import time

    store = pending_results(services)
    done = pages = 0
    start: dict[str, Any] | None = None
    while True:
        digests, start = store.expired(now=now, start=start)
        pages += 1
        for digest in digests:
            remaining = float(time_left())
            if remaining <= 0:
                return done, pages
            try:
                if discard(services, digest, deadline=time.monotonic() + remaining):
                    done += 1
            except Exception as exc:  # one bad item must not stop the others; the next sweep retries
                logger.warning("pending result not discarded", extra={"error_type": type(exc).__name__})
        if not start:
            return done, pages
