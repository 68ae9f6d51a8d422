"""`POST /v1/google/gmail-push`: a Cloud Pub/Sub push of Gmail's `{emailAddress, historyId}`
(API.md "Gmail push notifications").

1. The push's OIDC token is verified (`gmail_push.verify`): 401 `invalid_push_token` otherwise;
   Google's keys that cannot be loaded: 503 (Pub/Sub delivers again).
2. The body is decoded: 400 `invalid_push_message` otherwise (never redelivered usefully, but
   Pub/Sub's dead-letter policy ends it).
3. The mailbox's watches are one Query (`store.gmail_watches`). Only the watches of tenants whose
   `gmail_push` settings the token matches (`aud`, `email`, `email_verified`) are read; a token
   that matches none of the watching tenants: 403 `push_not_authorized`, nothing read. No watch at
   all: 204, nothing to do (a watch stopped since; Google's ends within 7 days).
4. Each watch (`process`): unless the push's history id is already behind the watch's (a
   redelivered or out-of-order push), `users.history.list` from the watch's history id
   (`messageAdded` only, paged), the watch's label filter applied, then the history id advanced
   by compare-and-set and ONE `gmail.messages_added` event published with the ids only. The CAS
   comes first: of two concurrent readers only one announces; an event EventBridge refused
   rewinds it (`GmailWatchStore.rewind`) and the push answers 503, so the redelivery announces
   it. Google's 404 (the history id is too old) publishes `gmail.history_reset` and re-baselines
   at the push's history id.
5. The work is bounded: `INLINE_WATCHES` watches and `INLINE_PAGES` pages each within the push;
   the rest goes to the work queue as `gmail_history` jobs (the refresh function continues them
   with `continue_watch`), so the push is answered quickly and Pub/Sub does not redeliver.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import (
    BrokerError,
    InvalidPushMessage,
    InvalidPushToken,
    NeedsReauth,
    NotFound,
    ProviderDisabled,
    PushNotAuthorized,
    ScopeNotGranted,
    ServiceMisconfigured,
    ServiceUnavailable,
)
from oauth_broker.gmail_push.verify import PushTokenRefused, verify_push_token
from oauth_broker.gmail_push.watches import WatchService, positive_int, watch_service, watchable
from oauth_broker.observability import logger, metric
from oauth_broker.proxy.service import ProxyRequest
from oauth_broker.proxy.upstream_errors import raise_for_upstream
from oauth_broker.timeutil import rfc3339

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

    from oauth_broker.providers.catalog import GmailPushSettings, ProviderDefinition
    from oauth_broker.services import Services
    from oauth_broker.store.models import ConnectionRecord, GmailWatchRecord

__all__ = ["PushReceipt", "PushReceiver", "push_receiver"]

PUSH_PROVIDER = "google"  # the catalog provider whose `gmail_push` names Google's keys
INLINE_WATCHES = 10  # watches of one mailbox read within the push; the rest through the queue
INLINE_PAGES = 2  # history.list pages per watch within the push
QUEUE_PAGES = 5  # pages per gmail_history job
PAGE_SIZE = 100
KEYS_RETRY_AFTER_SECONDS = 30
_USER = "gmail/v1/users/me"
# the connection's grant no longer works or no longer reads mail: its watch ends
_ACCESS_ENDED = (NeedsReauth, NotFound, ProviderDisabled, ScopeNotGranted)


@dataclass(frozen=True)
class Notification:
    mailbox: str
    history_id: int
    message_id: str | None


@dataclass
class PushReceipt:
    mailbox: str
    watches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@dataclass(frozen=True)
class HistoryRead:
    messages: tuple[dict[str, Any], ...]
    history_id: int  # where the next read starts
    more: bool  # pages left beyond the budget
    reset: bool = False  # Google no longer has the start: 404


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidPushToken("the push carries no OIDC token (Authorization: Bearer); nothing was read")
    return token.strip()


def parse_notification(body: str) -> Notification:
    """The Pub/Sub push message's `{emailAddress, historyId}`."""
    problem = "the body is not a Pub/Sub push message carrying Gmail's {emailAddress, historyId}"
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        data = json.loads(base64.b64decode(message["data"], validate=False).decode("utf-8"))
        mailbox, history = data["emailAddress"], data["historyId"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidPushMessage(problem) from None
    if not isinstance(mailbox, str) or "@" not in mailbox or len(mailbox) > 320:
        raise InvalidPushMessage(problem)
    try:
        history_id = int(str(history))
    except ValueError:
        raise InvalidPushMessage(problem) from None
    if history_id <= 0:
        raise InvalidPushMessage(problem)
    message_id = message.get("messageId") or message.get("message_id")
    return Notification(mailbox.strip().lower(), history_id, str(message_id) if message_id else None)


def label_match(labels: Iterable[str], watch: GmailWatchRecord) -> bool:
    if not watch.label_ids:
        return True
    hit = bool(set(labels) & set(watch.label_ids))
    return hit if watch.label_filter_behavior == "include" else not hit


class PushReceiver:
    def __init__(
        self,
        services: Services,
        watches: WatchService | None = None,
        *,
        now: Callable[[], float] = time.time,
    ):
        self.services = services
        self.watches = watches or watch_service(services)
        self.now = now

    @property
    def store(self) -> Any:
        return self.watches.store

    # -- the push ----------------------------------------------------------------------------------
    def keys(self, settings: GmailPushSettings) -> Callable[[str | None], KeySet]:
        """Google's signing keys at `settings.jwks_url` (one cache per process)."""
        from oauth_broker.auth.jwks import JwksCache, JwksError

        cache: JwksCache = self.services.singleton(
            f"gmail_push_keys:{settings.jwks_url}",
            lambda: JwksCache(
                settings.jwks_url, self.services.http, ttl_seconds=3600.0, min_refetch_seconds=30
            ),
        )

        def key_set(kid: str | None) -> KeySet:
            try:
                return cache.key_set(kid)
            except JwksError:
                raise ServiceUnavailable(
                    "Google's signing keys could not be loaded; deliver again later",
                    retry_after=KEYS_RETRY_AFTER_SECONDS,
                ) from None

        return key_set

    def receive(self, authorization: str | None, body: str, *, deadline: float) -> PushReceipt:
        settings = self.services.catalog.get(PUSH_PROVIDER).gmail_push
        if settings is None:
            raise ServiceMisconfigured("the google provider has no gmail_push settings in the catalog")
        try:
            token = bearer_token(authorization)
            verified = verify_push_token(
                token, keys=self.keys(settings), issuers=settings.issuers, now=self.now
            )
        except InvalidPushToken:
            metric("gmail_pushes", 1, outcome="refused")
            logger.warning("gmail push refused", extra={"reason": "no_token"})
            raise
        except PushTokenRefused as err:
            metric("gmail_pushes", 1, outcome="refused")
            logger.warning("gmail push refused", extra={"reason": err.reason})
            raise InvalidPushToken("the push's OIDC token failed verification; nothing was read") from None
        notification = parse_notification(body)
        receipt = PushReceipt(notification.mailbox)
        watches = self.store.for_mailbox(notification.mailbox)
        if not watches:
            metric("gmail_pushes", 1, outcome="ignored")
            logger.info(
                "gmail push for a mailbox nobody watches", extra={"message_id": notification.message_id}
            )
            return receipt
        allowed = {
            tenant
            for tenant in {w.tenant for w in watches}
            if verified.authorizes(self.services.settings.get(tenant).gmail_push)
        }
        if not allowed:
            metric("gmail_pushes", 1, outcome="refused")
            logger.warning(
                "gmail push refused: its token matches no watching tenant's gmail_push settings",
                extra={"tenants": len({w.tenant for w in watches}), "message_id": notification.message_id},
            )
            raise PushNotAuthorized("the push's token matches no gmail_push settings; nothing was read")
        mine = sorted((w for w in watches if w.tenant in allowed), key=lambda w: w.connection_id)
        receipt.watches = len(mine)
        failures: list[BaseException] = []
        for index, watch in enumerate(mine):
            if index >= INLINE_WATCHES:
                self._enqueue(watch)
                receipt.count("queued")
                continue
            try:
                receipt.count(
                    self.process(watch, pushed=notification.history_id, pages=INLINE_PAGES, deadline=deadline)
                )
            except Exception as exc:
                failures.append(exc)
                receipt.count("failed")
        metric("gmail_pushes", 1, outcome="processed")
        logger.info(
            "gmail push received",
            extra={"message_id": notification.message_id, "watches": len(mine), **receipt.outcomes},
        )
        if failures:
            # Pub/Sub delivers again; what was announced is not announced twice (the CAS)
            first = failures[0]
            if isinstance(first, BrokerError) and first.status == 503:
                raise first
            raise ServiceUnavailable("the push could not be fully processed; deliver again", retry_after=10)
        return receipt

    # -- one watch ---------------------------------------------------------------------------------
    def continue_watch(self, mailbox: str, connection_id: str, *, deadline: float) -> str:
        """A `gmail_history` job: the watch's backlog, `QUEUE_PAGES` more pages."""
        watch = self.store.get(mailbox, connection_id)
        if watch is None:
            return "stopped"
        return self.process(watch, pushed=None, pages=QUEUE_PAGES, deadline=deadline)

    def process(self, watch: GmailWatchRecord, *, pushed: int | None, pages: int, deadline: float) -> str:
        """Reads and announces what is new in `watch`'s mailbox: the outcome's name."""
        if pushed is not None and pushed <= watch.history_id:
            return "duplicate"
        conn = self.services.connections.get(watch.connection_id)
        if conn is None or conn.tenant != watch.tenant or not watchable(conn):
            self.watches.end(watch, conn, deadline=deadline)
            return "stopped"
        try:
            provider = self.watches.gmail.proxy.provider_of(conn)
            read = self._read_history(conn, provider, watch, pages=pages, deadline=deadline)
        except _ACCESS_ENDED:
            self.watches.end(watch, self.services.connections.get(watch.connection_id), deadline=deadline)
            return "stopped"
        stamp = rfc3339(self.now())
        if read.reset:
            baseline = pushed or self._current_history_id(conn, provider, deadline=deadline)
            advanced = self.store.advance(watch, baseline, notified_at=stamp, updated_at=stamp)
            if advanced is None:
                return "raced"
            self._publish(
                "history_reset",
                conn,
                watch,
                baseline,
                previous_history_id=str(watch.history_id),
                history_id=str(baseline),
            )
            metric("gmail_history_resets", 1)
            return "history_reset"
        if read.history_id <= watch.history_id and not read.messages:
            return "unchanged"
        advanced = self.store.advance(watch, read.history_id, notified_at=stamp, updated_at=stamp)
        if advanced is None:
            return "raced"
        if read.more:
            self._enqueue(watch)
        if not read.messages:
            return "nothing_new"
        self._publish(
            "messages_added",
            conn,
            watch,
            read.history_id,
            history_id=str(read.history_id),
            messages=list(read.messages),
        )
        metric("gmail_messages_added", len(read.messages))
        return "announced"

    def _publish(
        self, event_type: str, conn: ConnectionRecord, watch: GmailWatchRecord, advanced_to: int, **extra: Any
    ) -> None:
        try:
            self.services.publisher.publish_gmail(event_type, conn, strict=True, **extra)
        except Exception:
            self.store.rewind(watch, advanced_to)
            raise

    def _read_history(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        watch: GmailWatchRecord,
        *,
        pages: int,
        deadline: float,
    ) -> HistoryRead:
        proxy = self.watches.gmail.proxy
        messages: dict[str, dict[str, Any]] = {}
        token: str | None = None
        last = watch.history_id
        for _ in range(pages):
            query = [
                ("startHistoryId", str(watch.history_id)),
                ("historyTypes", "messageAdded"),
                ("maxResults", str(PAGE_SIZE)),
            ]
            if token:
                query.append(("pageToken", token))
            response = proxy.forward(
                conn,
                provider,
                ProxyRequest.api("GET", f"{_USER}/history", query=query),
                deadline=deadline,
                background=True,
            )
            if response.status == 404:
                return HistoryRead((), watch.history_id, False, reset=True)
            raise_for_upstream(response, what="reading the Gmail history")
            payload = response.json()
            payload = payload if isinstance(payload, dict) else {}
            for record in payload.get("history") or []:
                record_id = positive_int(record.get("id"))
                if record_id is None or record_id <= watch.history_id:
                    continue
                last = max(last, record_id)
                for added in record.get("messagesAdded") or []:
                    message = added.get("message") if isinstance(added, dict) else None
                    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
                        continue
                    labels = [label for label in message.get("labelIds") or [] if isinstance(label, str)]
                    if message["id"] in messages or not label_match(labels, watch):
                        continue
                    messages[message["id"]] = {
                        "id": message["id"],
                        "thread_id": str(message.get("threadId") or message["id"]),
                        "label_ids": labels,
                    }
            token = payload.get("nextPageToken") if isinstance(payload.get("nextPageToken"), str) else None
            if not token:
                current = positive_int(payload.get("historyId"))
                return HistoryRead(tuple(messages.values()), max(last, current or 0), False)
        return HistoryRead(tuple(messages.values()), last, True)

    def _current_history_id(
        self, conn: ConnectionRecord, provider: ProviderDefinition, *, deadline: float
    ) -> int:
        response = self.watches.gmail.proxy.forward(
            conn, provider, ProxyRequest.api("GET", f"{_USER}/profile"), deadline=deadline, background=True
        )
        raise_for_upstream(response, what="reading the Gmail profile")
        payload = response.json()
        current = positive_int(payload.get("historyId")) if isinstance(payload, dict) else None
        if current is None:
            raise ServiceUnavailable("Gmail's profile has no historyId", retry_after=10)
        return current

    def _enqueue(self, watch: GmailWatchRecord) -> None:
        from oauth_broker.tokens.queue import gmail_history_job, work_queue

        queue = work_queue(self.services)
        if queue is None:
            logger.warning(
                "gmail backlog not queued: no work queue", extra={"connection_id": watch.connection_id}
            )
            return
        queue.send([gmail_history_job(watch.mailbox, watch.connection_id)])


def push_receiver(services: Services) -> PushReceiver:
    return services.singleton("gmail_push_receiver", lambda: PushReceiver(services))
