"""Gmail watches: `users.watch` on the tenant's Pub/Sub topic, renewed daily, stopped when access
ends (API.md "Gmail push notifications").

Every Gmail call goes through `ProxyService.forward`, with the connection's own token, its retries
and its concurrency limit, like the typed Gmail routes.

A connection may be watched while it is usable (`active` or `partial`) and holds a Gmail read
scope (`READ_SCOPES`). `watchable` says so; a watch whose connection is no longer watchable is
stopped wherever the broker meets it: its connection's DELETE (`stop_before_disconnect`), a push
for its mailbox (`gmail_push.receiver`), its daily renewal (`renew_due`). Stopping deletes the
watch item (so no push is announced for it from then on) and calls `users.stop` when the grant
still works and no other watch of the broker shares Google's watch (one per mailbox and Google
Cloud project: the same OAuth client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from oauth_broker.errors import BrokerError, GmailPushNotConfigured, ScopeNotGranted, UpstreamError
from oauth_broker.observability import logger, metric
from oauth_broker.proxy.service import ProxyRequest
from oauth_broker.proxy.upstream_errors import raise_for_upstream
from oauth_broker.store.gmail_watches import GmailWatchStore
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus, GmailWatchRecord
from oauth_broker.timeutil import rfc3339

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.gmail.service import GmailService
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services

__all__ = [
    "READ_SCOPES",
    "WatchRequest",
    "WatchService",
    "WatchState",
    "has_read_scope",
    "positive_int",
    "watch_service",
    "watchable",
]

_GMAIL = "https://www.googleapis.com/auth/"
READ_SCOPES = frozenset(
    {
        "https://mail.google.com/",
        f"{_GMAIL}gmail.readonly",
        f"{_GMAIL}gmail.modify",
        f"{_GMAIL}gmail.metadata",
    }
)
_USER = "gmail/v1/users/me"
RENEWALS_PER_SWEEP = 200


def has_read_scope(conn: ConnectionRecord) -> bool:
    return any(scope in READ_SCOPES for scope in conn.scopes_granted)


def watchable(conn: ConnectionRecord | None) -> bool:
    """Whether `conn` may have a watch: usable, and granted a Gmail read scope."""
    return (
        conn is not None
        and conn.status in (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)
        and has_read_scope(conn)
    )


class WatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_ids: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="only changes to messages with these labels (e.g. INBOX); empty: every change",
    )
    label_filter_behavior: str = Field(
        default="include",
        pattern="^(include|exclude)$",
        description="include: changes to messages with one of `label_ids`; exclude: all others",
    )


class WatchState(BaseModel):
    active: bool
    connection_id: str
    topic: str | None = None
    label_ids: list[str] = Field(default_factory=list)
    label_filter_behavior: str | None = None
    history_id: str | None = Field(default=None, description="the mailbox history id when the watch started")
    last_history_id: str | None = Field(
        default=None, description="the history id up to which new mail has been announced"
    )
    expires_at: str | None = Field(default=None, description="when Google ends the watch unless renewed")
    renewed_at: str | None = None
    last_notification_at: str | None = None

    @classmethod
    def of(cls, rec: GmailWatchRecord) -> WatchState:
        return cls(
            active=True,
            connection_id=rec.connection_id,
            topic=rec.topic,
            label_ids=rec.label_ids,
            label_filter_behavior=rec.label_filter_behavior,
            history_id=str(rec.start_history_id or rec.history_id),
            last_history_id=str(rec.history_id),
            expires_at=rfc3339(rec.expires_at),
            renewed_at=rfc3339(rec.renewed_at),
            last_notification_at=rec.last_notification_at,
        )


@dataclass
class RenewalReport:
    due: int = 0
    renewed: int = 0
    stopped: int = 0
    failed: int = 0


def positive_int(value: Any) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class WatchService:
    def __init__(
        self,
        services: Services,
        gmail: GmailService | None = None,
        *,
        now: Callable[[], float] = time.time,
    ):
        from oauth_broker.gmail.service import gmail_service

        self.services = services
        self.gmail = gmail or gmail_service(services)
        self.store = GmailWatchStore(services.table)
        self.now = now

    @property
    def clock(self) -> Any:
        return self.gmail.clock

    # -- the routes --------------------------------------------------------------------------------
    def start(
        self, principal: Principal, connection_id: str, request: WatchRequest, *, deadline: float
    ) -> WatchState:
        """`users.watch` on the tenant's topic; stores the watch (a change of labels keeps the
        history id already announced, so nothing between the two watches is skipped)."""
        conn, provider = self.gmail.open(principal, connection_id)
        config = self.services.settings.get(conn.tenant).gmail_push
        if config is None:
            raise GmailPushNotConfigured(
                "the tenant has no gmail_push settings: PATCH /v1/settings with "
                "{gmail_push: {topic, push_audience, push_service_account}} first"
            )
        if not has_read_scope(conn):
            raise ScopeNotGranted(
                "a Gmail watch needs a Gmail read scope (gmail.readonly, gmail.modify, gmail.metadata "
                "or https://mail.google.com/); reconnect with one of them",
                connection_id=conn.id,
            )
        mailbox = (conn.account_email or "").lower()
        if not mailbox:
            raise ScopeNotGranted(
                "the connection's Gmail address is unknown; reconnect with the email scope",
                connection_id=conn.id,
            )
        answer = self._watch(
            conn, provider, config.topic, request.label_ids, request.label_filter_behavior, deadline=deadline
        )
        now = int(self.now())
        existing = self.store.get(mailbox, conn.id)
        stamp = rfc3339(now)
        rec = GmailWatchRecord(
            tenant=conn.tenant,
            connection_id=conn.id,
            owner=conn.owner,
            mailbox=mailbox,
            provider_client_id=conn.provider_client_id,
            topic=config.topic,
            label_ids=request.label_ids,
            label_filter_behavior=request.label_filter_behavior,
            history_id=existing.history_id if existing else answer[0],
            start_history_id=answer[0],
            expires_at=answer[1],
            renewed_at=now,
            last_notification_at=existing.last_notification_at if existing else None,
            created_at=existing.created_at if existing else stamp,
            updated_at=stamp,
        )
        saved = self.store.put(rec, expected_version=existing.version if existing else None)
        logger.info(
            "gmail watch started",
            extra={"connection_id": conn.id, "tenant": conn.tenant, "labels": len(request.label_ids)},
        )
        return WatchState.of(saved)

    def state(self, principal: Principal, connection_id: str) -> WatchState:
        conn = self.services.connections.get_visible(principal, connection_id)
        rec = self.store.get(conn.account_email or "", conn.id) if conn.account_email else None
        if rec is None or not watchable(conn):
            return WatchState(active=False, connection_id=conn.id)
        return WatchState.of(rec)

    def stop(self, principal: Principal, connection_id: str, *, deadline: float) -> None:
        """`users.stop` (unless another watch shares Google's one), then the watch is gone."""
        conn = self.services.connections.get_visible(principal, connection_id)
        self.stop_watch(conn, deadline=deadline, strict=True)

    # -- stopping --------------------------------------------------------------------------------
    def stop_watch(self, conn: ConnectionRecord, *, deadline: float, strict: bool = False) -> bool:
        """Ends `conn`'s watch, if it has one (`end`). Whether there was one."""
        rec = self.store.delete(conn.account_email, conn.id) if conn.account_email else None
        if rec is None:
            return False
        self._ended(rec, conn, deadline=deadline, strict=strict)
        return True

    def end(self, rec: GmailWatchRecord, conn: ConnectionRecord | None, *, deadline: float) -> None:
        """Ends the watch `rec` whose connection (`conn`, None when it is gone) no longer reads its
        mailbox: its item deleted, then `users.stop` when the grant still works and no other watch
        of the mailbox shares Google's one (the same OAuth client). A failed `users.stop` is
        logged: Google's watch lapses within 7 days unrenewed, and nothing is announced for it
        once the item is gone."""
        if self.store.delete(rec.mailbox, rec.connection_id) is not None:
            self._ended(rec, conn, deadline=deadline, strict=False)

    def _ended(
        self, rec: GmailWatchRecord, conn: ConnectionRecord | None, *, deadline: float, strict: bool
    ) -> None:
        """After `rec`'s item is deleted: Google's watch stopped when it can and should be.
        `strict`: the caller asked to stop (DELETE): a failed `users.stop` is raised."""
        metric("gmail_watch_stops", 1)
        grant_works = (
            conn is not None
            and conn.tenant == rec.tenant
            and conn.status in (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL)
        )
        if conn is not None and grant_works and not self._shared(rec):
            try:
                response = self.gmail.proxy.forward(
                    conn,
                    self.gmail.proxy.provider_of(conn),
                    ProxyRequest.api("POST", f"{_USER}/stop"),
                    deadline=deadline,
                    background=not strict,
                )
                raise_for_upstream(response, what="stopping the Gmail watch")
            except BrokerError as err:
                if strict:
                    raise
                logger.warning(
                    "gmail watch not stopped at Google (it expires on its own)",
                    extra={"connection_id": rec.connection_id, "code": err.code},
                )
        logger.info("gmail watch stopped", extra={"connection_id": rec.connection_id, "tenant": rec.tenant})

    def _shared(self, rec: GmailWatchRecord) -> bool:
        """Whether another watch of the mailbox goes through the same OAuth client: Google keeps
        one watch per mailbox and Cloud project, which it would stop too."""
        return any(
            other.provider_client_id == rec.provider_client_id and other.connection_id != rec.connection_id
            for other in self.store.for_mailbox(rec.mailbox)
        )

    def stop_before_disconnect(self, conn: ConnectionRecord, *, deadline: float) -> None:
        """A connection being deleted: its watch is stopped while its grant still works."""
        try:
            self.stop_watch(conn, deadline=deadline)
        except Exception as exc:  # the disconnect goes on; the item is gone or the sweep finds it
            logger.warning(
                "gmail watch not stopped before the disconnect",
                extra={"connection_id": conn.id, "error_type": type(exc).__name__},
            )

    # -- renewal -----------------------------------------------------------------------------------
    def renew_due(self, *, stop_at: float, limit: int = RENEWALS_PER_SWEEP) -> RenewalReport:
        """Renews every watch due (once a day), in the time left: `users.watch` again on the
        tenant's current topic with the watch's labels. A watch whose connection is gone or no
        longer watchable, or whose tenant removed its gmail_push settings, is stopped."""
        report = RenewalReport()
        due = self.store.due(now=int(self.now()), limit=limit)
        report.due = len(due)
        for mailbox, connection_id in due:
            if self.clock.monotonic() >= stop_at:
                break
            try:
                outcome = self.renew(mailbox, connection_id, deadline=stop_at)
            except Exception as exc:
                outcome = "failed"
                logger.warning(
                    "gmail watch not renewed",
                    extra={"connection_id": connection_id, "error_type": type(exc).__name__},
                )
            metric("gmail_watch_renewals", 1, outcome=outcome)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def renew(self, mailbox: str, connection_id: str, *, deadline: float) -> str:
        """One watch's renewal: `renewed`, `stopped`, or an exception (it stays due)."""
        rec = self.store.get(mailbox, connection_id)
        if rec is None:
            return "stopped"
        conn = self.services.connections.get(connection_id)
        config = self.services.settings.get(rec.tenant).gmail_push if watchable(conn) else None
        if conn is None or config is None:  # gone, no longer reading the mailbox, or push turned off
            self.end(rec, conn, deadline=deadline)
            return "stopped"
        provider = self.gmail.proxy.provider_of(conn)
        _, expires_at = self._watch(
            conn,
            provider,
            config.topic,
            rec.label_ids,
            rec.label_filter_behavior,
            deadline=deadline,
            background=True,
        )
        now = int(self.now())
        renewed = rec.model_copy(
            update={
                "topic": config.topic,
                "expires_at": expires_at,
                "renewed_at": now,
                "updated_at": rfc3339(now),
            }
        )
        self.store.put(renewed, expected_version=rec.version)
        return "renewed"

    # -- Google ----------------------------------------------------------------------------------
    def _watch(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        topic: str,
        label_ids: list[str],
        behavior: str,
        *,
        deadline: float,
        background: bool = False,
    ) -> tuple[int, int]:
        """`users.watch`: (the mailbox's history id now, expiry in epoch seconds)."""
        body: dict[str, Any] = {"topicName": topic}
        if label_ids:
            body["labelIds"] = label_ids
            body["labelFilterBehavior"] = behavior
        response = self.gmail.proxy.forward(
            conn,
            provider,
            ProxyRequest.api("POST", f"{_USER}/watch", json_body=body),
            deadline=deadline,
            background=background,
        )
        raise_for_upstream(response, what="starting the Gmail watch")
        payload = response.json()
        history_id = positive_int(payload.get("historyId")) if isinstance(payload, dict) else None
        expiration_ms = positive_int(payload.get("expiration")) if isinstance(payload, dict) else None
        if history_id is None or expiration_ms is None:
            raise UpstreamError("Gmail answered users.watch without a historyId and expiration")
        return history_id, expiration_ms // 1000


def watch_service(services: Services) -> WatchService:
    return services.singleton("gmail_watch_service", lambda: WatchService(services))
