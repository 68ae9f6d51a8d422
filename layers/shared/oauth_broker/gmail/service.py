"""The typed Gmail routes: list, read and send messages on a connection.

Every Gmail call goes through `ProxyService.forward`, so the typed routes get the raw proxy's
scope check (a `gmail.send`-only connection cannot list), retries, token refresh and concurrency
limit. Provider errors become problem documents (`proxy.upstream_errors`).

Sending: `from` must be the account's address or one of its Gmail send-as addresses
(users.settings.sendAs.list, cached per connection for `SEND_AS_CACHE_SECONDS`); the message is
built with `gmail.mime.build_send_body`. With an `Idempotency-Key` the send runs at most once per
tenant + connection + key (`proxy.idempotency`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import ProviderMismatch, ScopeNotGranted, UpstreamError, ValidationFailed
from oauth_broker.gmail.models import (
    MessageDetail,
    MessageList,
    SendMessageRequest,
    SendResult,
    parse_mailbox,
)
from oauth_broker.proxy.service import ProxyRequest, ProxyService, proxy_service
from oauth_broker.proxy.upstream_errors import raise_for_upstream
from oauth_broker.tokens.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.providers.catalog import ProviderDefinition
    from oauth_broker.services import Services
    from oauth_broker.store.models import ConnectionRecord

__all__ = ["GET_FORMATS", "GmailService", "SentMessage", "gmail_service"]

GET_FORMATS = ("full", "metadata", "raw")
SEND_AS_CACHE_SECONDS = 300.0
_SEND_AS_CACHE_SIZE = 1024
_GMAIL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_USER = "gmail/v1/users/me"


@dataclass(frozen=True)
class SentMessage:
    result: SendResult
    replayed: bool = False


class GmailService:
    def __init__(self, services: Services, proxy: ProxyService | None = None, *, clock: Clock = SYSTEM_CLOCK):
        self.services = services
        self.proxy = proxy or proxy_service(services)
        self.clock = clock
        self._send_as: dict[str, tuple[float, frozenset[str]]] = {}
        self._send_as_lock = threading.Lock()

    # -- the connection --------------------------------------------------------------------------
    def open(self, principal: Principal, connection_id: str) -> tuple[ConnectionRecord, ProviderDefinition]:
        conn, provider = self.proxy.open(principal, connection_id)
        if provider.api is None or provider.api.scope_table != "gmail":
            raise ProviderMismatch(
                f"connection {conn.id} is a {conn.provider} connection; the Gmail routes need a Gmail one"
            )
        return conn, provider

    def _get(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        path: str,
        query: list[tuple[str, str]],
        *,
        what: str,
        deadline: float,
    ) -> Any:
        response = self.proxy.forward(
            conn, provider, ProxyRequest.api("GET", path, query=query), deadline=deadline
        )
        raise_for_upstream(response, what=what)
        return response.json()

    # -- list and read -------------------------------------------------------------------------
    def list_messages(
        self,
        principal: Principal,
        connection_id: str,
        *,
        q: str | None = None,
        label_ids: list[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        deadline: float,
    ) -> MessageList:
        conn, provider = self.open(principal, connection_id)
        query: list[tuple[str, str]] = [("maxResults", str(limit))]
        if q:
            query.append(("q", q))
        query.extend(("labelIds", label) for label in label_ids or [])
        if cursor:
            query.append(("pageToken", cursor))
        payload = self._get(
            conn, provider, f"{_USER}/messages", query, what="listing messages", deadline=deadline
        )
        return MessageList.from_gmail(payload if isinstance(payload, dict) else {})

    def get_message(
        self, principal: Principal, connection_id: str, message_id: str, *, fmt: str = "full", deadline: float
    ) -> MessageDetail:
        if not _GMAIL_ID_RE.match(message_id):
            raise ValidationFailed(
                "message_id is not a Gmail message id",
                errors=[
                    {
                        "loc": ["path", "message_id"],
                        "msg": "letters, digits, '-' and '_'",
                        "type": "value_error",
                    }
                ],
            )
        if fmt not in GET_FORMATS:
            raise ValidationFailed(
                f"format must be one of {', '.join(GET_FORMATS)}",
                errors=[{"loc": ["query", "format"], "msg": "unknown format", "type": "value_error"}],
            )
        conn, provider = self.open(principal, connection_id)
        payload = self._get(
            conn,
            provider,
            f"{_USER}/messages/{message_id}",
            [("format", fmt)],
            what="reading the message",
            deadline=deadline,
        )
        from oauth_broker.gmail.mime import parse_gmail_message

        try:
            return parse_gmail_message(payload if isinstance(payload, dict) else {}, fmt=fmt)
        except (ValueError, TypeError):
            raise UpstreamError("Gmail's answer is not a message this broker can read") from None

    # -- send ----------------------------------------------------------------------------------
    def send_message(
        self,
        principal: Principal,
        connection_id: str,
        request: SendMessageRequest,
        *,
        deadline: float,
        idempotency_key: str | None = None,
        lambda_context: Any = None,
    ) -> SentMessage:
        conn, provider = self.open(principal, connection_id)

        def send() -> dict[str, Any]:
            return self._send(conn, provider, request, deadline=deadline).model_dump(mode="json")

        if idempotency_key is None:
            return SentMessage(SendResult.model_validate(send()))
        from oauth_broker.proxy.idempotency import run_idempotent

        outcome = run_idempotent(
            self.services,
            prefix="gmail-send",
            scope=f"{conn.tenant}/{conn.id}/{idempotency_key}",
            payload=request.model_dump(mode="json", by_alias=True),
            call=send,
            lambda_context=lambda_context,
        )
        return SentMessage(SendResult.model_validate(outcome.result), outcome.replayed)

    def _send(
        self,
        conn: ConnectionRecord,
        provider: ProviderDefinition,
        request: SendMessageRequest,
        *,
        deadline: float,
    ) -> SendResult:
        from oauth_broker.gmail.mime import build_send_body

        account = conn.account_email
        if not account:
            raise UpstreamError("the connection has no account address to send from")
        if request.from_ is not None:
            self._check_sender(conn, provider, request.from_, deadline=deadline)
        try:
            body = build_send_body(request, sender=account)
        except ValueError as exc:
            raise ValidationFailed(
                "the message cannot be built",
                errors=[{"loc": ["body"], "msg": str(exc)[:200], "type": "value_error"}],
            ) from None
        response = self.proxy.forward(
            conn,
            provider,
            ProxyRequest.api("POST", f"{_USER}/messages/send", json_body=body),
            deadline=deadline,
        )
        raise_for_upstream(response, what="sending the message")
        payload = response.json()
        result = SendResult.from_gmail(payload if isinstance(payload, dict) else {})
        if not result.id:
            raise UpstreamError("Gmail accepted the message but returned no message id")
        return result

    # -- send-as ---------------------------------------------------------------------------------
    def _check_sender(
        self, conn: ConnectionRecord, provider: ProviderDefinition, sender: str, *, deadline: float
    ) -> None:
        _, address = parse_mailbox(sender)
        if address.lower() == (conn.account_email or "").lower():
            return
        try:
            allowed = self.send_as_addresses(conn, provider, deadline=deadline)
        except ScopeNotGranted as exc:
            scopes = ", ".join(exc.extra.get("required_scopes", []))
            raise ValidationFailed(
                "from is not the account's address, and the connection may not list its send-as "
                f"addresses to check it (that needs one of: {scopes})",
                errors=[
                    {"loc": ["body", "from"], "msg": "cannot verify a send-as address", "type": "value_error"}
                ],
            ) from None
        if address.lower() not in allowed:
            raise ValidationFailed(
                "from must be the account's address or one of its Gmail send-as addresses",
                errors=[{"loc": ["body", "from"], "msg": "not a send-as address", "type": "value_error"}],
            )

    def send_as_addresses(
        self, conn: ConnectionRecord, provider: ProviderDefinition, *, deadline: float
    ) -> frozenset[str]:
        """The account's send-as addresses (lower-cased), cached per connection for a few minutes."""
        now = self.clock.monotonic()
        with self._send_as_lock:
            hit = self._send_as.get(conn.id)
            if hit is not None and hit[0] > now:
                return hit[1]
        payload = self._get(
            conn,
            provider,
            f"{_USER}/settings/sendAs",
            [],
            what="listing send-as addresses",
            deadline=deadline,
        )
        entries = payload.get("sendAs") if isinstance(payload, dict) else None
        addresses = frozenset(
            str(entry["sendAsEmail"]).lower()
            for entry in entries or []
            if isinstance(entry, dict)
            and entry.get("sendAsEmail")
            and entry.get("verificationStatus", "accepted") == "accepted"
        )
        with self._send_as_lock:
            if len(self._send_as) >= _SEND_AS_CACHE_SIZE:
                self._send_as.clear()
            self._send_as[conn.id] = (now + SEND_AS_CACHE_SECONDS, addresses)
        return addresses


def gmail_service(services: Services) -> GmailService:
    """The process's `GmailService` (one per `Services`)."""
    return services.singleton("gmail.service", lambda: GmailService(services))
