"""`EventPublisher`: puts `connection.<event>` and `audit.<action>` events on the stack's bus. Never a
secret in a detail.

Details are built from an allow-list of connection fields, so a token or secret attribute added
to the connection model later cannot leak into an event by accident.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import rfc3339

SOURCE = "oauth-broker"
PUBLISH_ATTEMPTS = 3
EVENT_TYPES = frozenset(
    {
        "created",
        "updated",
        "needs_reauth",
        "revoked",
        "refresh_failed",
        "deleted",
        "revocation_failed",
        "revocation_completed",  # a disconnect's failed revocation, retried by the sweep, landed
        "security_event",  # a Google security event that changes no status (oauth_broker.risc)
    }
)
# `gmail.<type>` events (oauth_broker.gmail_push): a watched mailbox's news, ids only
GMAIL_EVENT_TYPES = frozenset({"messages_added", "history_reset"})
# The only connection fields an event may carry.
DETAIL_FIELDS = (
    "id",
    "tenant",
    "owner",
    "name",
    "provider",
    "oauth_client_id",
    "account_email",
    "status",
    "status_reason",
    "scopes_granted",
    "version",
)
# The only audit record fields an `audit.*` event may carry (the record's details are allow-listed
# when it is made: `oauth_broker.audit.DETAIL_FIELDS`).
AUDIT_FIELDS = (
    "id",
    "tenant",
    "action",
    "outcome",
    "status",
    "code",
    "actor",
    "resource",
    "occurred_at",
    "details",
)
Listener = Callable[[dict[str, Any]], None]


class EventNotPublished(Exception):
    """EventBridge did not take an event after `PUBLISH_ATTEMPTS` (only raised when asked)."""


def connection_detail(conn: ConnectionRecord) -> dict[str, Any]:
    data = conn.model_dump(mode="json", include=set(DETAIL_FIELDS))
    data["connection_id"] = data.pop("id")
    return data


def _connection_event(type_: str, conn: ConnectionRecord, extra: Mapping[str, Any]) -> dict[str, Any]:
    """An event's detail about `conn`: its allow-listed fields, and `extra`'s non-None members."""
    return {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "type": type_,
        "occurred_at": rfc3339(),
        "tenant": conn.tenant,
        "connection": connection_detail(conn),
        **{k: v for k, v in extra.items() if v is not None},
    }


class EventPublisher:
    def __init__(self, events_client: Any, bus_name: str, *, listeners: Iterable[Listener] = ()):
        self.client = events_client
        self.bus_name = bus_name
        # the caller's list itself (Services.event_listeners), so a listener added after the
        # publisher was built (a test, the local runtime) still hears every event
        self.listeners = listeners if isinstance(listeners, list) else list(listeners)

    def publish(self, event_type: str, conn: ConnectionRecord, /, **extra: Any) -> dict[str, Any]:
        """Publishes `connection.<event_type>`; returns the EventBridge-shaped event. `extra` goes in
        the detail as it is (`event_type` too: a security event's type, `oauth_broker.risc`).

        A failure to publish is retried (`PUBLISH_ATTEMPTS` in all), then logged and swallowed: the
        state change it reports has already been written, and an event outage must not fail the
        user's request.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        return self._send(_connection_event(f"connection.{event_type}", conn, extra))

    def publish_gmail(
        self, event_type: str, conn: ConnectionRecord, /, *, strict: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """Publishes `gmail.<event_type>` for a watched connection (`oauth_broker.gmail_push`),
        with the connection's allow-listed fields, its id, and `extra` (ids and history ids only,
        never a message's content). `strict`: an event EventBridge did not take raises
        `EventNotPublished` (the caller undoes what the event announces, so a redelivery announces
        it again) instead of being logged and swallowed."""
        if event_type not in GMAIL_EVENT_TYPES:
            raise ValueError(f"unknown gmail event type {event_type!r}")
        detail = _connection_event(f"gmail.{event_type}", conn, {"connection_id": conn.id, **extra})
        return self._send(detail, strict=strict)

    def publish_audit(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Publishes `audit.<action>` for an audit record (`oauth_broker.audit`), its detail built
        from `AUDIT_FIELDS` only. Not delivered to tenant webhooks: the trail is the operator's,
        read with GET /v1/audit or from the bus (the template's webhook rule leaves `audit.*` out,
        and so do the in-process listeners, which stand for that rule in the local runtime)."""
        detail = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "type": f"audit.{record['action']}",
            "occurred_at": record["occurred_at"],
            "tenant": record["tenant"],
            "audit": {k: record[k] for k in AUDIT_FIELDS if record.get(k) is not None},
        }
        return self._send(detail, notify=False)

    def _send(self, detail: dict[str, Any], *, notify: bool = True, strict: bool = False) -> dict[str, Any]:
        """Puts one event (retried, then logged: raised only with `strict`) and, with `notify`,
        hands it to the listeners."""
        entry = {
            "Source": SOURCE,
            "DetailType": detail["type"],
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }
        # A failed call or a refused entry (FailedEntryCount: EventBridge's partial failure, which
        # the SDK does not retry) is tried again, PUBLISH_ATTEMPTS times in all, then logged.
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                resp = self.client.put_events(Entries=[entry])
            except Exception as exc:
                logger.warning(
                    "event publish failed",
                    extra={"type": detail["type"], "error_type": type(exc).__name__, "attempt": attempt},
                )
                continue
            if not resp.get("FailedEntryCount"):
                break
            codes = [e.get("ErrorCode") for e in resp.get("Entries") or [] if e.get("ErrorCode")]
            logger.warning(
                "event not accepted by EventBridge",
                extra={"type": detail["type"], "error_code": codes[0] if codes else None, "attempt": attempt},
            )
        else:
            logger.error(
                "event not published", extra={"type": detail["type"], "event_id": detail["event_id"]}
            )
            if strict:
                raise EventNotPublished(detail["type"])
        event = {"source": SOURCE, "detail-type": entry["DetailType"], "detail": detail}
        for listener in self.listeners if notify else ():
            listener(event)
        return event
