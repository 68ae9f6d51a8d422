"""`EventPublisher`: puts `connection.<event>` events on the stack's bus. Never a secret in a detail.

Details are built from an allow-list of connection fields, so a token or secret attribute added
to the connection model later cannot leak into an event by accident.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.timeutil import rfc3339

SOURCE = "oauth-broker"
PUBLISH_ATTEMPTS = 3
EVENT_TYPES = frozenset(
    {"created", "updated", "needs_reauth", "revoked", "refresh_failed", "deleted", "revocation_failed"}
)
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
Listener = Callable[[dict[str, Any]], None]


def connection_detail(conn: ConnectionRecord) -> dict[str, Any]:
    data = conn.model_dump(mode="json", include=set(DETAIL_FIELDS))
    data["connection_id"] = data.pop("id")
    return data


class EventPublisher:
    def __init__(self, events_client: Any, bus_name: str, *, listeners: Iterable[Listener] = ()):
        self.client = events_client
        self.bus_name = bus_name
        self.listeners = list(listeners)

    def publish(self, event_type: str, conn: ConnectionRecord, **extra: Any) -> dict[str, Any]:
        """Publishes `connection.<event_type>`; returns the EventBridge-shaped event.

        A failure to publish is retried (`PUBLISH_ATTEMPTS` in all), then logged and swallowed: the
        state change it reports has already been written, and an event outage must not fail the
        user's request.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        detail = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "type": f"connection.{event_type}",
            "occurred_at": rfc3339(),
            "tenant": conn.tenant,
            "connection": connection_detail(conn),
            **{k: v for k, v in extra.items() if v is not None},
        }
        entry = {
            "Source": SOURCE,
            "DetailType": f"connection.{event_type}",
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
        event = {"source": SOURCE, "detail-type": entry["DetailType"], "detail": detail}
        for listener in self.listeners:
            listener(event)
        return event
