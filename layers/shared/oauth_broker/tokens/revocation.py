"""Disconnecting: revoke the grant at the provider (RFC 7009), then delete the connection.

Runs in the refresh function (it holds the decrypt rights; the api function has none):

1. the refresh lease is taken (waiting briefly for a refresh in flight), so no refresh starts
   while we disconnect;
2. the connection is marked `revoked` (reason `deleted`) with a compare-and-set: from here on
   no function hands out its tokens, and a refresh that was in flight anyway finds it revoked
   and revokes whatever it obtained (see `TokenRefresher`);
3. the refresh token (else the access token) is revoked at the provider with
   `token_type_hint`, retried with backoff on transient failures within the deadline; except
   where revoking one token revokes the whole (OAuth client, account) grant (Google) and another
   connection of the tenant holds that grant (`tokens.grants`): then nothing is revoked, the
   outcome is `kept_shared_grant`, and the other connection keeps working;
4. when the provider could not take the refresh token's revocation for now (5xx, 429, timeout,
   network: a transient failure), a tombstone is left (`store.tombstones`: the encrypted token,
   its provider and client, the attempts): the outcome is `pending_retry`, and the sweep retries
   it with backoff for up to 30 days (`tokens.revocation_retries`);
5. the connection and its lease are deleted whatever the provider said.

Events: `connection.revoked` (the status change), `connection.revocation_failed` when the
provider could not be told (not for `kept_shared_grant`: that is deliberate; `final: false` with
`pending_retry`: the sweep goes on trying), then `connection.deleted` (`provider_revocation`: the
outcome).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from oauth_broker.crypto.envelope import CryptoError, EncryptionContext
from oauth_broker.errors import NotFound
from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import ConditionFailed
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock
from oauth_broker.tokens.endpoint import TokenEndpointError
from oauth_broker.tokens.grants import shared_grant_siblings
from oauth_broker.tokens.lease import new_holder_id
from oauth_broker.tokens.refresher import TokenRefresher, token_refresher

if TYPE_CHECKING:
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services

Outcome = Literal[
    "revoked", "already_invalid", "no_token", "not_supported", "kept_shared_grant", "failed", "pending_retry"
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
REVOKED_OUTCOMES = frozenset({"revoked", "already_invalid", "no_token"})
# Not revoked on purpose: the grant is another connection's too (no `revocation_failed` event).
KEPT_SHARED_GRANT: Outcome = "kept_shared_grant"
# Not revoked yet: a tombstone was left and the sweep retries (`tokens.revocation_retries`).
PENDING_RETRY: Outcome = "pending_retry"
MAX_ATTEMPTS = 4
ATTEMPT_TIMEOUT_SECONDS = 5.0
LEASE_WAIT_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class RevocationReport:
    """What a disconnect did. `revoked`: the provider no longer honours the grant's tokens (or
    there were none); `outcome` says how; `error` is a code when the provider was not told;
    `shared_with`: for `kept_shared_grant`, the connections that still hold the grant."""

    connection_id: str
    deleted: bool
    revoked: bool
    outcome: Outcome
    error: str | None = None
    shared_with: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shared_with"] = list(self.shared_with)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevocationReport:
        outcome: Outcome = "failed"
        for known in OUTCOMES:
            if data.get("outcome") == known:
                outcome = known
        shared = data.get("shared_with")
        return cls(
            connection_id=str(data.get("connection_id", "")),
            deleted=bool(data.get("deleted")),
            revoked=bool(data.get("revoked")),
            outcome=outcome,
            error=str(data["error"]) if data.get("error") else None,
            shared_with=tuple(str(i) for i in shared) if isinstance(shared, list | tuple) else (),
        )


class ConnectionRevoker:
    def __init__(
        self,
        services: Services,
        refresher: TokenRefresher | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        self.services = services
        self.refresher = refresher or token_refresher(services)
        self.clock = clock
        self.max_attempts = max(1, max_attempts)

    def revoke_and_delete(
        self, tenant: str, connection_id: str, *, deadline: float, announce: bool = True
    ) -> RevocationReport:
        """`announce=False` (and for any `pending` connection): a connection that was never
        confirmed, so never announced, goes without events."""
        connections = self.refresher.connections
        leases = self.refresher.leases
        rec = connections.get(connection_id)
        if rec is None or rec.tenant != tenant:
            raise NotFound(f"connection {connection_id} not found")
        # a pending connection was never announced (connection.created comes with confirmation)
        announce = announce and rec.status != ConnectionStatus.PENDING
        if rec.account_email and rec.status != ConnectionStatus.PENDING:
            # its Gmail watch, while the grant still works (`users.stop` needs it)
            from oauth_broker.gmail_push.watches import watch_service

            watch_service(self.services).stop_before_disconnect(rec, deadline=deadline)
        holder = new_holder_id()
        self._take_lease(connection_id, holder, deadline)
        try:
            marked = self._mark_revoked(rec)
            self.refresher.forget(connection_id)
            if announce:
                self.services.publisher.publish("revoked", marked, reason="deleted")
            outcome, error, shared_with, retryable = self._revoke_at_provider(marked, deadline)
            if outcome == "failed" and retryable:
                outcome = self._leave_tombstone(marked, outcome, error, announce=announce)
            connections.delete(connection_id)
        finally:
            try:
                leases.delete(connection_id)
            except Exception as exc:  # it expires on its own; the ttl removes the item
                logger.warning("lease not deleted", extra={"error_type": type(exc).__name__})
        report = RevocationReport(
            connection_id=connection_id,
            deleted=True,
            revoked=outcome in REVOKED_OUTCOMES,
            outcome=outcome,
            error=error,
            shared_with=shared_with,
        )
        if outcome == KEPT_SHARED_GRANT:
            logger.info(
                "grant kept at the provider: other connections hold it",
                extra={"connection_id": connection_id, "tenant": tenant, "shared_with": list(shared_with)},
            )
        elif not report.revoked:
            logger.warning(
                "grant not revoked at the provider",
                extra={"connection_id": connection_id, "tenant": tenant, "outcome": outcome, "error": error},
            )
            if announce:
                self.services.publisher.publish(
                    "revocation_failed",
                    marked,
                    outcome=outcome,
                    error=error or outcome,
                    final=outcome != PENDING_RETRY,
                )
        if announce:
            self.services.publisher.publish("deleted", marked, provider_revocation=outcome)
        return report

    def revoke_held_grant(self, held: ConnectionRecord, *, deadline: float) -> Outcome:
        """Revokes the tokens of `held`: a re-authorization's result that was never confirmed (its
        `enc_*` blobs are encrypted for the connection's record id). The grant is kept when a live
        connection of the tenant, the re-authorized connection itself included, still holds it."""
        outcome, error, shared_with, _ = self._revoke_at_provider(held, deadline, include_self=True)
        logger.info(
            "unconfirmed re-authorization: held tokens",
            extra={
                "connection_id": held.id,
                "outcome": outcome,
                "error": error,
                "shared_with": list(shared_with),
            },
        )
        return outcome

    def revoke_replaced_refresh_token(
        self, previous: ConnectionRecord, current: ConnectionRecord, *, deadline: float
    ) -> Outcome | None:
        """A confirmed re-authorization replaced `previous`'s refresh token: revoke the old one
        (RFC 7009), best effort. Skipped (None) where revoking one token revokes the whole grant
        (the catalog's `auth.revocation_revokes_grant`: Google, which retires the old tokens of a
        pair by itself) — it would revoke the new token too — and when the token did not change."""
        old_blob, new_blob = previous.enc_refresh_token, current.enc_refresh_token
        if not old_blob or not new_blob or old_blob == new_blob:
            return None
        try:
            provider = self.refresher.provider_of(previous)
        except TokenEndpointError:
            return None
        if provider.auth.revocation_revokes_grant or not provider.auth.revocation_url:
            return None
        try:
            ctx = EncryptionContext(previous.tenant, previous.id, "refresh_token")
            envelope = self.services.envelope
            if envelope.decrypt(old_blob, ctx) == envelope.decrypt(new_blob, ctx):
                return None
        except CryptoError:
            return None
        outcome, error, _ = self._revoke(previous, provider, old_blob, "refresh_token", deadline)
        logger.info(
            "replaced refresh token revoked",
            extra={"connection_id": previous.id, "outcome": outcome, "error": error},
        )
        return outcome

    def retry_revocation(
        self, rec: ConnectionRecord, blob: str, hint: str, *, deadline: float
    ) -> tuple[Outcome, str | None]:
        """One more try at a tombstone's revocation (`tokens.revocation_retries`): `rec` is the
        deleted connection as the tombstone remembers it, `blob` its token, encrypted for
        (`rec.tenant`, `rec.id`, `hint`). `kept_shared_grant` when a live connection of the tenant
        holds the grant by now (the user connected the account again: revoking would cut it);
        `already_invalid` for a refusal that says the token is dead (`invalid_grant`)."""
        try:
            provider = self.refresher.provider_of(rec)
        except TokenEndpointError as err:
            return "failed", err.code
        if not provider.auth.revocation_url:
            return "not_supported", "provider_has_no_revocation_endpoint"
        try:
            siblings = shared_grant_siblings(
                self.services, rec, provider, connections=self.refresher.connections
            )
        except Exception as exc:
            logger.warning("grant siblings not read", extra={"error_type": type(exc).__name__})
            return "failed", "shared_grant_check_failed"
        if siblings:
            return KEPT_SHARED_GRANT, None
        outcome, error, _ = self._revoke(rec, provider, blob, hint, deadline)
        if outcome == "failed" and error == "invalid_grant":
            return "already_invalid", None
        return outcome, error

    # -- steps -------------------------------------------------------------------------------------
    def _leave_tombstone(
        self, rec: ConnectionRecord, outcome: Outcome, error: str | None, *, announce: bool
    ) -> Outcome:
        """Leaves the tombstone the sweep retries; `pending_retry`, or `outcome` when it could not
        be written (then the failure is reported as it is)."""
        from oauth_broker.tokens.revocation_retries import leave_tombstone

        try:
            leave_tombstone(self.services, rec, now=int(self.clock.time()), error=error, announce=announce)
        except Exception as exc:
            logger.error(
                "revocation tombstone not written",
                extra={"connection_id": rec.id, "tenant": rec.tenant, "error_type": type(exc).__name__},
            )
            return outcome
        return PENDING_RETRY

    def _take_lease(self, connection_id: str, holder: str, deadline: float) -> bool:
        """Waits (a lease period at most) for a refresh in flight to finish; goes on regardless."""
        leases = self.refresher.leases
        give_up = min(deadline - 1.0, self.clock.monotonic() + self.refresher.lease_seconds + 1.0)
        while True:
            if leases.acquire(connection_id, holder, self.refresher.lease_seconds * 3) is not None:
                return True
            if self.clock.monotonic() + LEASE_WAIT_POLL_SECONDS > give_up:
                return False
            self.clock.sleep(LEASE_WAIT_POLL_SECONDS)

    def _mark_revoked(self, rec: ConnectionRecord) -> ConnectionRecord:
        connections = self.refresher.connections
        base = rec
        for _ in range(5):
            update = {
                "status": ConnectionStatus.REVOKED,
                "status_reason": "deleted",
                "updated_at": rfc3339(self.clock.time()),
            }
            try:
                return connections.save(base.model_copy(update=update), expected_version=base.version)
            except ConditionFailed:
                latest = connections.get(rec.id)
                if latest is None:
                    raise NotFound(f"connection {rec.id} not found") from None
                base = latest
        # Five lost races in a row: the delete below still removes it; report from what we read.
        return base.model_copy(update={"status": ConnectionStatus.REVOKED, "status_reason": "deleted"})

    def _revoke_at_provider(
        self, rec: ConnectionRecord, deadline: float, *, include_self: bool = False
    ) -> tuple[Outcome, str | None, tuple[str, ...], bool]:
        """(outcome, error code, the connections that keep the grant when it is kept, whether the
        refresh token's revocation failed transiently: worth a tombstone)."""
        if rec.enc_refresh_token:
            blob, hint = rec.enc_refresh_token, "refresh_token"
        elif rec.enc_access_token and (rec.expires_at or 0) > self.clock.time():
            blob, hint = rec.enc_access_token, "access_token"
        else:
            return "no_token", None, (), False
        try:
            provider = self.refresher.provider_of(rec)
        except TokenEndpointError as err:
            return "failed", err.code, (), False
        if not provider.auth.revocation_url:
            return "not_supported", "provider_has_no_revocation_endpoint", (), False
        try:
            siblings = shared_grant_siblings(
                self.services,
                rec,
                provider,
                connections=self.refresher.connections,
                include_self=include_self,
            )
        except Exception as exc:  # not knowing, revoking could kill another connection's grant
            logger.warning("grant siblings not read", extra={"error_type": type(exc).__name__})
            # the sweep's retry reads them again before it revokes anything
            return "failed", "shared_grant_check_failed", (), hint == "refresh_token"
        if siblings:
            return KEPT_SHARED_GRANT, None, tuple(s.id for s in siblings), False
        outcome, error, transient = self._revoke(rec, provider, blob, hint, deadline)
        return outcome, error, (), transient and hint == "refresh_token"

    def _revoke(
        self, rec: ConnectionRecord, provider: ProviderDefinition, blob: str, hint: str, deadline: float
    ) -> tuple[Outcome, str | None, bool]:
        """(outcome, error code, whether the last failure was transient: worth trying later)."""
        try:
            token = self.services.envelope.decrypt(blob, EncryptionContext(rec.tenant, rec.id, hint)).decode()
            credentials = self.refresher.client_credentials(rec.tenant, rec.oauth_client_id)
        except TokenEndpointError as err:
            return "failed", err.code, err.kind == "transient"
        except CryptoError:
            return "failed", "undecryptable_token", False

        endpoint = self.refresher.endpoint
        attempts = 0
        reloaded = False
        error = "deadline_exceeded"
        transient = True
        while attempts < self.max_attempts:
            remaining = deadline - self.clock.monotonic()
            if remaining < 0.25:
                break
            attempts += 1
            try:
                result = endpoint.revoke(
                    provider,
                    credentials,
                    token,
                    token_type_hint="refresh_token" if hint == "refresh_token" else "access_token",
                    timeout=min(ATTEMPT_TIMEOUT_SECONDS, remaining),
                )
                return result, None, False
            except TokenEndpointError as err:
                error, transient = err.code, err.kind == "transient"
                if err.kind == "invalid_client" and not reloaded:
                    reloaded = True
                    try:
                        credentials = self.refresher.client_credentials(
                            rec.tenant, rec.oauth_client_id, reload=True
                        )
                    except TokenEndpointError as load_err:
                        return "failed", load_err.code, load_err.kind == "transient"
                    attempts -= 1
                    continue
                if err.kind != "transient" or attempts >= self.max_attempts:
                    break
                pause = self.refresher.retry_delay(attempts, err.retry_after)
                if self.clock.monotonic() + pause + 0.25 > deadline:
                    break
                self.clock.sleep(pause)
        return "failed", error, transient
