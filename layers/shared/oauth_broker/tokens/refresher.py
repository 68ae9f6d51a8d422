"""`TokenRefresher`: the one way anything gets a usable access token for a connection.

Warm path: a token that is fresh enough (expires more than `refresh_ahead_seconds` from now) is
served from an in-memory cache keyed by connection and item version: no KMS call and no
DynamoDB call beyond the caller's own read of the connection.

Refresh path, safe with any number of Lambda containers at once:

1. threads of one process coalesce on a per-connection in-process lock (single flight);
2. across containers, the refresh lease (`tokens.lease`, a DynamoDB conditional write) picks one
   refresher; the others poll the connection with jittered backoff until the winner's tokens
   appear (or the lease expires because its holder died, and one of them takes over);
3. the winner re-reads the connection (consistent read: another container may have finished a
   refresh a moment ago), calls the provider's token endpoint, and stores the new tokens with a
   compare-and-set on the item's version before anyone sees the new access token. A rotated
   refresh token is therefore never handed out unstored; a response without `refresh_token`
   keeps the stored one. A lost compare-and-set re-reads and re-applies the tokens (a concurrent
   PATCH of the name must not drop a rotated refresh token), unless someone else stored newer
   tokens, which then win.

Use: every `get_fresh_token` is a use of the connection's token (proxy, typed Gmail/Contacts
routes, test, token read, forced refresh), except the broker's own background calls (Gmail push's
history reads and watch renewals: `note_use=False`). When the item says its last recorded use is more than
an hour old, one conditional UpdateItem (`ConnectionStore.record_use`) records it and moves the
due time back to refresh-ahead (`store.schedule`): at most one write an hour per connection, no
version bump, never a failed call (an error is logged and counted as `use_record_failed`). A warm
call whose item shows a recent use costs nothing more.

`invalid_grant` marks the connection `needs_reauth` at once (+ `connection.needs_reauth`) and
raises `NeedsReauth`. Transient failures are retried with backoff within the caller's deadline;
after that `connection.refresh_failed` is published, `refresh_failures` counts up and the
connection keeps its status and tokens.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from oauth_broker.crypto.envelope import CryptoError, EncryptionContext, KeyServiceError
from oauth_broker.crypto.token_identifiers import token_digests
from oauth_broker.errors import ConfirmationRequired, NeedsReauth, NotFound, ProviderDisabled, UpstreamError
from oauth_broker.observability import logger, metric
from oauth_broker.store.connections import REFRESHABLE, ConnectionStore
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.schedule import USE_RECORD_INTERVAL_SECONDS
from oauth_broker.store.table import ConditionFailed
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.endpoint import (
    ClientCredentials,
    ProviderTokenClient,
    TokenEndpointError,
    TokenResponse,
)
from oauth_broker.tokens.grants import shared_grant_siblings
from oauth_broker.tokens.lease import LeaseStore, new_holder_id

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services

__all__ = [
    "AccessToken",
    "RefreshOutcome",
    "TokenRefresher",
    "ensure_usable",
    "needs_reauth_error",
    "token_refresher",
]

DEFAULT_BUDGET_SECONDS = 10.0  # when the caller gives no deadline
LEASE_SECONDS = 10.0  # renewed before every retry; a dead holder blocks others this long at most
ATTEMPT_TIMEOUT_SECONDS = 5.0  # one token endpoint request (well inside the lease)
MIN_ATTEMPT_SECONDS = 0.25  # no point starting a request with less time than this
MIN_USABLE_SECONDS = 60  # a token valid this much longer is still served when a refresh fails
DEFAULT_LIFETIME_SECONDS = 3600  # a token response without expires_in (RFC 6749 makes it optional)
MAX_ATTEMPTS = 4
WAIT_INITIAL_SECONDS = 0.05
WAIT_MAX_SECONDS = 0.5
RETRY_INITIAL_SECONDS = 0.25
RETRY_MAX_SECONDS = 4.0
CLIENT_CACHE_SECONDS = 300.0
FAILURE_COOLDOWN_SECONDS = 30.0
SAVE_ATTEMPTS = 5
CACHE_ENTRIES = 4096
USE_RETRY_SECONDS = 60  # after a refused or failed use record, this process waits this long

REAUTH_HINT = (
    "re-authorize it: create a connect session with this connection_id "
    '(POST /v1/connect-sessions {"connection_id": "<id>", ...}); it keeps its id'
)
_TRANSIENT_STORE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


@dataclass(frozen=True)
class AccessToken:
    """A usable access token. `token` is never logged: the repr leaves it out."""

    token: str = field(repr=False)
    expires_at: int  # epoch seconds
    scopes: tuple[str, ...]
    connection_version: int


class RefreshOutcome(StrEnum):
    """What the sweep did with one due connection."""

    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # no longer due, refreshed by someone else, or not refreshable
    NEEDS_REAUTH = "needs_reauth"
    FAILED = "failed"
    DEFERRED = "deferred"  # no time was left to try: nothing happened, it stays due


class _LeaseLost(Exception):
    """Our lease expired and another refresher took it over: stop and read its result."""


class _OutOfTime(UpstreamError):
    """The deadline left no time for a single attempt: nothing was tried, nothing failed."""


@dataclass(frozen=True)
class _Cached:
    token: AccessToken
    blob: str  # the enc_access_token the token was decrypted from


def needs_reauth_error(conn: ConnectionRecord) -> NeedsReauth:
    return NeedsReauth(
        f"connection {conn.id} needs re-authorization: the provider no longer accepts its grant",
        connection_id=conn.id,
        reason=conn.status_reason,
        hint=REAUTH_HINT.replace("<id>", conn.id),
    )


def ensure_usable(conn: ConnectionRecord) -> None:
    """Raises unless the connection's tokens may be used: `ConfirmationRequired` (pending: the
    user who started its connect flow has not confirmed it), `NeedsReauth` (needs_reauth),
    `ProviderDisabled` (revoked because an admin disabled its provider), `NotFound` (revoked)."""
    if conn.status == ConnectionStatus.PENDING:
        raise ConfirmationRequired(
            f"connection {conn.id} awaits confirmation by the user who started its connect flow "
            "(POST /v1/connect-sessions/confirm); nothing is sent to the provider until then",
            connection_id=conn.id,
        )
    if conn.status == ConnectionStatus.NEEDS_REAUTH:
        raise needs_reauth_error(conn)
    if conn.status == ConnectionStatus.REVOKED:
        if conn.status_reason == "provider_disabled":
            raise ProviderDisabled(
                f"provider {conn.provider} is disabled for this tenant", connection_id=conn.id
            )
        raise NotFound(f"connection {conn.id} not found")


def _retry_hint(err: TokenEndpointError) -> float | None:
    """Seconds to tell the caller to wait when retrying may help (None: it will not)."""
    if err.kind != "transient":
        return None
    return max(1.0, err.retry_after or 1.0)


def _is_transient_store_error(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_STORE_CODES
    return False


class _SingleFlight:
    """One lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[str, list[Any]] = {}  # key -> [lock, users]

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[bool]:
        with self._guard:
            entry = self._entries.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        acquired = lock.acquire(timeout=max(0.0, timeout))
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._entries.pop(key, None)


class TokenRefresher:
    """Fresh access tokens for connections; one per process (`token_refresher(services)`).

    Injected for tests: `clock` (wall, monotonic, sleep), `connections` (a ConnectionStore),
    `endpoint` (a ProviderTokenClient), `rng` (jitter), `lease_seconds`, `provider_for`
    (connection -> ProviderDefinition; default: the catalog entry of `conn.provider`).
    """

    def __init__(
        self,
        services: Services,
        *,
        clock: Clock = SYSTEM_CLOCK,
        connections: ConnectionStore | None = None,
        endpoint: ProviderTokenClient | None = None,
        rng: random.Random | None = None,
        lease_seconds: float = LEASE_SECONDS,
        attempt_timeout: float = ATTEMPT_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        provider_for: Callable[[ConnectionRecord], ProviderDefinition] | None = None,
    ):
        self.services = services
        self.clock = clock
        self.connections = connections or services.connections
        self.leases = LeaseStore(self.connections.table, clock=clock)
        self._endpoint = endpoint
        self.rng = rng or random.Random()
        self.lease_seconds = lease_seconds
        self.attempt_timeout = min(attempt_timeout, lease_seconds * 0.6)
        self.max_attempts = max(1, max_attempts)
        self.refresh_ahead = services.config.refresh_ahead_seconds
        self._provider_for = provider_for
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._clients: dict[tuple[str, str], tuple[ClientCredentials, float]] = {}
        self._clients_lock = threading.Lock()
        self._failed_at: OrderedDict[str, float] = OrderedDict()
        self._use_memo: OrderedDict[str, float] = OrderedDict()  # connection -> no attempt before
        self._flights = _SingleFlight()

    # -- public API ---------------------------------------------------------------------------------
    def get_fresh_token(
        self,
        conn: ConnectionRecord,
        *,
        force: bool = False,
        deadline: float | None = None,
        note_use: bool = True,
    ) -> AccessToken:
        """A token valid for more than `refresh_ahead_seconds` (or, with `force`, a newer one than
        `conn` holds). `conn` is the item the caller has just read; `deadline` a
        `time.monotonic()` value by which the caller needs an answer. `note_use=False`: the
        broker's own background call (Gmail push), not recorded as a use.

        Raises NeedsReauth, ProviderDisabled, NotFound, or UpstreamError (transient failure after
        retries; the connection keeps its status and tokens).
        """
        ensure_usable(conn)
        if note_use:
            self.note_use(conn)
        if deadline is None:
            deadline = self.clock.monotonic() + DEFAULT_BUDGET_SECONDS
        if not force and self._fresh(conn.expires_at, self.refresh_ahead):
            cached = self._cache_get(conn)
            return cached if cached is not None else self._token_of(conn)
        fallback = not force and self._usable(conn)
        if fallback and self._recently_failed(
            conn.id, since=self.clock.monotonic() - FAILURE_COOLDOWN_SECONDS
        ):
            return self._token_of(conn)  # the provider failed moments ago: don't hammer it
        try:
            return self._refresh_coalesced(conn, force=force, deadline=deadline)
        except UpstreamError:
            if fallback and self._usable(conn):
                return self._token_of(conn)
            raise

    def note_use(self, conn: ConnectionRecord) -> bool:
        """Records a use of `conn`'s token when its item shows none within the last hour (and this
        process has not just tried): True when written. Before any refresh the call may do, so
        that refresh stores the connection as busy. Never raises."""
        now = int(self.clock.time())
        if conn.last_used_at is not None and conn.last_used_at > now - USE_RECORD_INTERVAL_SECONDS:
            return False
        with self._cache_lock:
            not_before = self._use_memo.get(conn.id)
            if not_before is not None and not_before > now:
                return False
            self._use_memo[conn.id] = now + USE_RETRY_SECONDS
            self._use_memo.move_to_end(conn.id)
            while len(self._use_memo) > CACHE_ENTRIES:
                self._use_memo.popitem(last=False)
        try:
            written = self.connections.record_use(conn, now)
        except Exception as exc:  # a use not recorded costs at most an on-demand refresh later
            logger.warning(
                "connection use not recorded",
                extra={"connection_id": conn.id, "tenant": conn.tenant, "error_type": type(exc).__name__},
            )
            metric("use_record_failed")
            return False
        if written:
            with self._cache_lock:
                self._use_memo[conn.id] = now + USE_RECORD_INTERVAL_SECONDS
        return written

    def refresh_if_due(self, connection_id: str, *, horizon: float, deadline: float) -> RefreshOutcome:
        """The sweep's entry point: refreshes the connection if the schedule (`store.schedule`) makes
        it due within `horizon - refresh_ahead` seconds (for a busy connection: its token expires
        within `horizon`). One the sweep met too early (an item whose `due_at` an older rule wrote)
        gets its due time rewritten. Never waits for another refresher: a held lease means
        someone is on it."""
        holder = new_holder_id()
        if self.leases.acquire(connection_id, holder, self.lease_seconds) is None:
            return RefreshOutcome.SKIPPED
        try:
            current = self.connections.get(connection_id)
            if (
                current is None
                or current.status not in REFRESHABLE
                or not current.enc_refresh_token
                or current.expires_at is None
            ):
                return RefreshOutcome.SKIPPED
            schedule = self.connections.schedule
            due_at = schedule.due_at(current)
            if due_at is None or due_at > self.clock.time() + horizon - schedule.refresh_ahead:
                if due_at != current.expires_at - schedule.refresh_ahead:
                    # idle: the index's due time came from an older rule (a busy one's
                    # was rewritten by whoever refreshed it)
                    self.connections.reschedule(current)
                return RefreshOutcome.SKIPPED
            self._refresh_locked(current, holder, deadline, max_attempts=self.max_attempts)
            return RefreshOutcome.REFRESHED
        except NeedsReauth:
            return RefreshOutcome.NEEDS_REAUTH
        except (NotFound, ProviderDisabled, _LeaseLost):
            return RefreshOutcome.SKIPPED
        except _OutOfTime:
            return RefreshOutcome.DEFERRED
        except UpstreamError:
            return RefreshOutcome.FAILED
        finally:
            self.leases.release(connection_id, holder)

    def forget(self, connection_id: str) -> None:
        """Drops the cached token of a connection (revoked, deleted, re-authorized)."""
        with self._cache_lock:
            for key in [k for k in self._cache if k[1] == connection_id]:
                del self._cache[key]

    # -- coalescing --------------------------------------------------------------------------------
    def _refresh_coalesced(self, conn: ConnectionRecord, *, force: bool, deadline: float) -> AccessToken:
        started = self.clock.monotonic()
        with self._flights.hold(conn.id, deadline - started) as ours:
            if not ours:
                raise UpstreamError(
                    "a refresh of this connection is still in progress; retry shortly",
                    headers={"Retry-After": "1"},
                )
            newer = self._cache_newer(conn, force=force)
            if newer is not None:
                return newer
            if self._recently_failed(conn.id, since=started):
                raise UpstreamError(
                    "refreshing this connection's token failed moments ago; retry shortly",
                    headers={"Retry-After": "5"},
                )
            try:
                return self._refresh_shared(conn, force=force, deadline=deadline)
            except _OutOfTime:
                raise
            except UpstreamError:
                self._note_failure(conn.id)
                raise

    def _refresh_shared(self, seen: ConnectionRecord, *, force: bool, deadline: float) -> AccessToken:
        holder = new_holder_id()
        delay = WAIT_INITIAL_SECONDS
        while True:
            current: ConnectionRecord
            if self.leases.acquire(seen.id, holder, self.lease_seconds) is not None:
                try:
                    current = self._reread(seen.id)
                    ensure_usable(current)
                    if self._settled(seen, current, force=force):
                        return self._token_of(current)
                    max_attempts = 1 if not force and self._usable(current) else self.max_attempts
                    return self._refresh_locked(current, holder, deadline, max_attempts=max_attempts)
                except _LeaseLost:
                    pass  # someone took over our expired lease: wait for its result like any loser
                finally:
                    self.leases.release(seen.id, holder)
            else:
                current = self._reread(seen.id)
                ensure_usable(current)
                if self._settled(seen, current, force=force):
                    return self._token_of(current)
                if current.refresh_failures > seen.refresh_failures:
                    # the lease holder has just given up after its retries: so do we
                    raise UpstreamError(
                        "refreshing this connection's token failed; the connection keeps its tokens",
                        reason=current.last_refresh_error,
                        headers={"Retry-After": "5"},
                    )
            if self.clock.monotonic() + delay >= deadline:
                raise UpstreamError(
                    "a refresh of this connection is still in progress; retry shortly",
                    headers={"Retry-After": "1"},
                )
            self.clock.sleep(delay * (0.5 + self.rng.random()))
            delay = min(delay * 2, WAIT_MAX_SECONDS)

    def _settled(self, seen: ConnectionRecord, current: ConnectionRecord, *, force: bool) -> bool:
        """Whether `current` already answers the caller: someone else stored a new access token
        since `seen` was read, or (unless forced) it is fresh enough."""
        if current.enc_access_token and current.enc_access_token != seen.enc_access_token:
            return self._usable(current)
        return not force and self._fresh(current.expires_at, self.refresh_ahead)

    # -- the refresh itself (lease held) -----------------------------------------------------------
    def _refresh_locked(
        self, current: ConnectionRecord, holder: str, deadline: float, *, max_attempts: int
    ) -> AccessToken:
        if not current.enc_refresh_token:
            return self._mark_needs_reauth(current, "no_refresh_token")
        try:
            provider = self.provider_of(current)
            refresh_token = self._decrypt(current, current.enc_refresh_token, "refresh_token")
            credentials = self.client_credentials(current.tenant, current.oauth_client_id)
        except TokenEndpointError as err:
            self._record_failure(current, err.code, attempts=0)
            raise self._upstream(err.code, retry_after=_retry_hint(err)) from None

        attempts = 0
        reloaded_client = False
        error: TokenEndpointError | None = None
        while attempts < max_attempts:
            remaining = deadline - self.clock.monotonic()
            if remaining < MIN_ATTEMPT_SECONDS:
                break
            if attempts > 0 and not self.leases.renew(current.id, holder, self.lease_seconds):
                raise _LeaseLost()
            attempts += 1
            try:
                response = self.endpoint.refresh(
                    provider, credentials, refresh_token, timeout=min(self.attempt_timeout, remaining)
                )
            except TokenEndpointError as err:
                error = err
                if err.kind == "invalid_grant":
                    return self._mark_needs_reauth(current, "invalid_grant")
                if err.kind == "invalid_client" and not reloaded_client:
                    # the admin may have rotated the secret since we cached it: reload once
                    reloaded_client = True
                    try:
                        credentials = self.client_credentials(
                            current.tenant, current.oauth_client_id, reload=True
                        )
                    except TokenEndpointError as load_err:
                        error = load_err
                        break
                    attempts -= 1
                    continue
                if err.kind != "transient" or attempts >= max_attempts:
                    break
                pause = self.retry_delay(attempts, err.retry_after)
                if self.clock.monotonic() + pause + MIN_ATTEMPT_SECONDS > deadline:
                    break
                self.clock.sleep(pause)
                continue
            return self._store_refreshed(
                current, provider, credentials, refresh_token, response, holder, deadline
            )
        if error is None:
            raise _OutOfTime(
                "no time was left to refresh this connection's token; retry shortly",
                reason="deadline_exceeded",
                headers={"Retry-After": "1"},
            )
        self._record_failure(current, error.code, attempts=attempts)
        raise self._upstream(error.code, retry_after=_retry_hint(error))

    def _store_refreshed(
        self,
        current: ConnectionRecord,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        old_refresh_token: str,
        response: TokenResponse,
        holder: str,
        deadline: float,
    ) -> AccessToken:
        now = self.clock.time()
        rotated = response.refresh_token is not None and response.refresh_token != old_refresh_token
        enc_access = self._encrypt(current, response.access_token, "access_token")
        enc_refresh = self._encrypt(current, response.refresh_token, "refresh_token") if rotated else None
        # The digests of the refresh token's identifiers (`crypto.token_identifiers`), for a provider
        # whose security events name tokens: the new token's, or the one we hold (a connection
        # stored before the index, or with stale digests, is indexed by its next refresh).
        digests: list[str] | None = None
        if provider.risc is not None:
            held = response.refresh_token if rotated and response.refresh_token else old_refresh_token
            digests = list(token_digests(held))
        lifetime = response.expires_in if response.expires_in is not None else DEFAULT_LIFETIME_SECONDS
        # The callback's credit rule: only requested (and identity) scopes, so a refresh reporting
        # scopes of earlier consents never widens `scopes_granted`.
        comparison = (
            provider.compare_scopes(current.scopes_requested, response.scope)
            if response.scope is not None
            else None
        )

        def apply(base: ConnectionRecord) -> ConnectionRecord:
            update: dict[str, Any] = {
                "enc_access_token": enc_access,
                "expires_at": int(now) + lifetime,
                "token_type": response.token_type,
                "last_refreshed_at": rfc3339(now),
                "updated_at": rfc3339(now),
                "refresh_failures": 0,
                "last_refresh_error": None,
            }
            if enc_refresh is not None:
                update["enc_refresh_token"] = enc_refresh
                update["rt_digests"] = digests
            elif (
                digests is not None
                and base.enc_refresh_token == current.enc_refresh_token
                and base.rt_digests != digests
            ):
                update["rt_digests"] = digests
            if comparison is not None:
                update["scopes_granted"] = list(comparison.granted)
            refuted = (
                base.status == ConnectionStatus.NEEDS_REAUTH
                and base.status_reason == "invalid_grant"
                and base.enc_refresh_token == current.enc_refresh_token
            )
            if base.status in REFRESHABLE or refuted:
                # this successful refresh proves the grant alive (a concurrent invalid_grant
                # was about the refresh token we have just rotated)
                missing = comparison.missing if comparison is not None else ()
                partial = bool(missing) or (comparison is None and base.status == ConnectionStatus.PARTIAL)
                update["status"] = ConnectionStatus.PARTIAL if partial else ConnectionStatus.ACTIVE
                if refuted:
                    update["status_reason"] = None
            return base.model_copy(update=update)

        base = current
        saved: ConnectionRecord | None = None
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                saved = self.connections.save(apply(base), expected_version=base.version, previous=base)
                break
            except ConditionFailed:
                latest = self.connections.get(current.id)
                if latest is None or (
                    latest.status == ConnectionStatus.REVOKED and latest.status_reason == "deleted"
                ):
                    self._discard(current, provider, credentials, response, rotated)
                    raise NotFound(f"connection {current.id} not found") from None
                if (
                    latest.enc_refresh_token != current.enc_refresh_token
                    or latest.enc_access_token != current.enc_access_token
                ):
                    # re-authorized, or refreshed by a holder whose lease outlived ours: theirs win
                    ensure_usable(latest)
                    if not self._usable(latest):
                        raise self._upstream("superseded") from None
                    return self._token_of(latest)
                base = latest  # a concurrent edit of other fields: re-apply our tokens onto it
            except Exception as exc:
                if not _is_transient_store_error(exc):
                    raise
                pause = self.retry_delay(attempt, None)
                if self.clock.monotonic() + pause > deadline:
                    break
                self.clock.sleep(pause)
                self.leases.renew(current.id, holder, self.lease_seconds)
        if saved is None:
            # Nothing was handed out: the stored tokens are untouched and still the truth.
            metric("refresh_failed")
            logger.warning(
                "refreshed tokens could not be stored",
                extra={"connection_id": current.id, "tenant": current.tenant, "rotated": rotated},
            )
            raise self._upstream("store_unavailable", retry_after=1)

        token = AccessToken(
            token=response.access_token,
            expires_at=int(saved.expires_at or 0),
            scopes=tuple(saved.scopes_granted),
            connection_version=saved.version,
        )
        self._cache_put(saved, token)
        metric("refreshed")
        logger.info(
            "connection token refreshed",
            extra={
                "connection_id": saved.id,
                "tenant": saved.tenant,
                "version": saved.version,
                "rotated": rotated,
            },
        )
        if saved.status != current.status:
            self.publisher.publish("updated", saved, previous_status=current.status.value)
        ensure_usable(saved)
        return token

    def _mark_needs_reauth(self, current: ConnectionRecord, reason: str) -> AccessToken:
        """Marks the connection needs_reauth (CAS), publishes the event, raises NeedsReauth; or,
        when a new grant was stored meanwhile, returns its token instead."""
        base = current
        saved: ConnectionRecord | None = None
        for _ in range(SAVE_ATTEMPTS):
            if base.status == ConnectionStatus.NEEDS_REAUTH:
                raise needs_reauth_error(base)
            now = rfc3339(self.clock.time())
            marked = base.model_copy(
                update={"status": ConnectionStatus.NEEDS_REAUTH, "status_reason": reason, "updated_at": now}
            )
            try:
                saved = self.connections.save(marked, expected_version=base.version)
                break
            except ConditionFailed:
                latest = self.connections.get(current.id)
                if latest is None:
                    raise NotFound(f"connection {current.id} not found") from None
                if latest.enc_refresh_token != current.enc_refresh_token:
                    # a new grant or a rotated refresh token was stored meanwhile: ours was stale
                    ensure_usable(latest)
                    if self._usable(latest):
                        return self._token_of(latest)
                    raise self._upstream("superseded") from None
                ensure_usable(latest)
                base = latest
        if saved is None:
            raise self._upstream("store_conflict")
        self.forget(saved.id)
        logger.warning(
            "connection needs re-authorization",
            extra={"connection_id": saved.id, "tenant": saved.tenant, "reason": reason},
        )
        metric("needs_reauth")
        self.publisher.publish("needs_reauth", saved, reason=reason)
        raise needs_reauth_error(saved)

    def _record_failure(self, current: ConnectionRecord, code: str, *, attempts: int) -> None:
        """Counts the failure on the connection (status and tokens untouched) and publishes
        `connection.refresh_failed`. Best effort: a lost race or a store outage only costs the count."""
        base = current
        recorded = current
        for _ in range(3):
            update = {
                "refresh_failures": base.refresh_failures + 1,
                "last_refresh_error": code,
                "updated_at": rfc3339(self.clock.time()),
            }
            try:
                recorded = self.connections.save(
                    base.model_copy(update=update), expected_version=base.version
                )
                break
            except ConditionFailed:
                latest = self.connections.get(current.id)
                if latest is None or latest.enc_access_token != current.enc_access_token:
                    return  # deleted, or refreshed by someone else meanwhile: nothing failed for it
                base = latest
            except Exception as exc:
                if not _is_transient_store_error(exc):
                    raise
                break
        metric("refresh_failed")
        logger.warning(
            "token refresh failed",
            extra={
                "connection_id": current.id,
                "tenant": current.tenant,
                "error": code,
                "attempts": attempts,
            },
        )
        self.publisher.publish(
            "refresh_failed",
            recorded,
            error=code,
            attempts=attempts,
            refresh_failures=recorded.refresh_failures,
        )

    def _discard(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        credentials: ClientCredentials,
        response: TokenResponse,
        rotated: bool,
    ) -> None:
        """The connection was deleted while we refreshed: revoke what we just obtained (best effort).
        Not where that would revoke a grant other connections still hold (`tokens.grants`)."""
        if not provider.auth.revocation_url:
            return
        try:
            if shared_grant_siblings(self.services, conn, provider, connections=self.connections):
                return
        except Exception as exc:  # not knowing, revoking could kill another connection's grant
            logger.warning("grant siblings not read", extra={"error_type": type(exc).__name__})
            return
        try:
            if rotated and response.refresh_token:
                self.endpoint.revoke(
                    provider,
                    credentials,
                    response.refresh_token,
                    token_type_hint="refresh_token",
                    timeout=2.0,
                )
            else:
                self.endpoint.revoke(
                    provider, credentials, response.access_token, token_type_hint="access_token", timeout=2.0
                )
        except TokenEndpointError:
            pass

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def endpoint(self) -> ProviderTokenClient:
        if self._endpoint is None:
            self._endpoint = ProviderTokenClient(self.services.http)
        return self._endpoint

    @property
    def publisher(self) -> Any:
        return self.services.publisher

    def provider_of(self, conn: ConnectionRecord) -> ProviderDefinition:
        """The connection's provider definition: built-in (no read) or the tenant's custom one
        (cached by the registry). Raises TokenEndpointError("rejected", "unknown_provider")."""
        from oauth_broker.providers.catalog import UnknownProvider

        try:
            if self._provider_for is not None:
                return self._provider_for(conn)
            from oauth_broker.providers.registry import provider_registry

            return provider_registry(self.services).definition(conn.tenant, conn.provider)
        except (UnknownProvider, NotFound):
            raise TokenEndpointError("rejected", "unknown_provider") from None

    def client_credentials(
        self, tenant: str, oauth_client_id: str, *, reload: bool = False
    ) -> ClientCredentials:
        key = (tenant, oauth_client_id)
        now = self.clock.monotonic()
        with self._clients_lock:
            hit = self._clients.get(key)
            if hit is not None and not reload and hit[1] > now:
                return hit[0]
        try:
            record = self.services.oauth_clients.get(tenant, oauth_client_id)
        except NotFound:
            raise TokenEndpointError("rejected", "oauth_client_not_found") from None
        ctx = EncryptionContext(tenant, record.id, "client_secret")
        try:
            secret = self.services.envelope.decrypt(record.enc_client_secret, ctx).decode()
        except KeyServiceError:
            raise TokenEndpointError("transient", "key_service_unavailable") from None
        except CryptoError:
            raise TokenEndpointError("rejected", "undecryptable_client_secret") from None
        credentials = ClientCredentials(record.client_id, secret)
        with self._clients_lock:
            self._clients[key] = (credentials, now + CLIENT_CACHE_SECONDS)
        return credentials

    def _decrypt(self, conn: ConnectionRecord, blob: str, purpose: str) -> str:
        try:
            return self.services.envelope.decrypt(
                blob, EncryptionContext(conn.tenant, conn.id, purpose)
            ).decode()
        except KeyServiceError:
            raise TokenEndpointError("transient", "key_service_unavailable") from None
        except CryptoError:
            raise TokenEndpointError("rejected", f"undecryptable_{purpose}") from None

    def _encrypt(self, conn: ConnectionRecord, value: str | None, purpose: str) -> str:
        assert value is not None
        try:
            return self.services.envelope.encrypt(
                value.encode(), EncryptionContext(conn.tenant, conn.id, purpose)
            )
        except KeyServiceError:
            raise self._upstream("key_service_unavailable", retry_after=1) from None

    def _token_of(self, conn: ConnectionRecord) -> AccessToken:
        """The connection's stored access token: from the cache, else decrypted (one KMS call)."""
        cached = self._cache_get(conn, fresh_only=False)
        if cached is not None:
            return cached
        if not conn.enc_access_token or conn.expires_at is None:
            raise self._upstream("no_access_token")
        try:
            value = self.services.envelope.decrypt(
                conn.enc_access_token, EncryptionContext(conn.tenant, conn.id, "access_token")
            ).decode()
        except KeyServiceError:
            raise self._upstream("key_service_unavailable", retry_after=1) from None
        token = AccessToken(
            token=value,
            expires_at=conn.expires_at,
            scopes=tuple(conn.scopes_granted),
            connection_version=conn.version,
        )
        self._cache_put(conn, token)
        return token

    def _reread(self, connection_id: str) -> ConnectionRecord:
        latest = self.connections.get(connection_id)
        if latest is None:
            self.forget(connection_id)
            raise NotFound(f"connection {connection_id} not found")
        return latest

    def _fresh(self, expires_at: int | None, horizon: float) -> bool:
        return expires_at is not None and expires_at - self.clock.time() > horizon

    def _usable(self, conn: ConnectionRecord) -> bool:
        return bool(conn.enc_access_token) and self._fresh(conn.expires_at, MIN_USABLE_SECONDS)

    def retry_delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(RETRY_MAX_SECONDS, RETRY_INITIAL_SECONDS * 2.0 ** (attempt - 1))
        delay = backoff * (0.5 + self.rng.random() / 2)  # jitter in [backoff/2, backoff)
        return max(delay, retry_after or 0.0)

    @staticmethod
    def _upstream(code: str, *, retry_after: float | None = None) -> UpstreamError:
        """`retry_after`: the failure is transient (the provider's 5xx/429/timeout, KMS or the
        table unavailable), so the answer says when to retry."""
        return UpstreamError(
            "refreshing this connection's token failed; the connection keeps its status and tokens",
            reason=code,
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None,
        )

    def _note_failure(self, connection_id: str) -> None:
        with self._cache_lock:
            self._failed_at[connection_id] = self.clock.monotonic()
            self._failed_at.move_to_end(connection_id)
            while len(self._failed_at) > CACHE_ENTRIES:
                self._failed_at.popitem(last=False)

    def _recently_failed(self, connection_id: str, *, since: float) -> bool:
        with self._cache_lock:
            at = self._failed_at.get(connection_id)
        return at is not None and at >= since

    # -- cache -------------------------------------------------------------------------------------
    def _cache_get(self, conn: ConnectionRecord, *, fresh_only: bool = True) -> AccessToken | None:
        """A cached token for this item: same version, a newer version this process wrote, or an
        older version with the very same encrypted token (only other fields changed)."""
        key = (conn.tenant, conn.id)
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            self._cache.move_to_end(key)
        token = entry.token
        if token.connection_version < conn.version:
            if entry.blob != conn.enc_access_token:
                return None
            token = AccessToken(token.token, token.expires_at, tuple(conn.scopes_granted), conn.version)
        if fresh_only and not self._fresh(token.expires_at, self.refresh_ahead):
            return None
        return token

    def _cache_newer(self, conn: ConnectionRecord, *, force: bool) -> AccessToken | None:
        """What another thread of this process obtained while we waited for the single flight."""
        key = (conn.tenant, conn.id)
        with self._cache_lock:
            entry = self._cache.get(key)
        if entry is None or not self._fresh(entry.token.expires_at, MIN_USABLE_SECONDS):
            return None
        if entry.blob != conn.enc_access_token and entry.token.connection_version > conn.version:
            return entry.token
        if not force and self._fresh(entry.token.expires_at, self.refresh_ahead):
            return entry.token if entry.token.connection_version >= conn.version else None
        return None

    def _cache_put(self, conn: ConnectionRecord, token: AccessToken) -> None:
        if not conn.enc_access_token:
            return
        key = (conn.tenant, conn.id)
        with self._cache_lock:
            existing = self._cache.get(key)
            if existing is not None and existing.token.connection_version > token.connection_version:
                return  # never replace a newer token with an older one
            self._cache[key] = _Cached(token, conn.enc_access_token)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)


def token_refresher(services: Services) -> TokenRefresher:
    """The process's TokenRefresher (one per Services: its cache is the warm path)."""
    return services.singleton("tokens.refresher", lambda: TokenRefresher(services))
