"""The audit trail: who did what to which resource of a tenant, when, and how it went.

One append-only record per audited action (`AUDIT_ACTIONS`): every admin write, every connect
confirmation, every access token exposed, every disconnect, and the revocations the broker makes
on its own (actor `system`). A record is stored in the tenant's partition (`store.audit`), kept
`AUDIT_RETENTION_DAYS` (TTL), and published on the bus as `audit.<action>`.

Requests are audited at the route layer (`oauth_broker.http.audited`): the route's action is
recorded with the request's outcome; a route (or the domain code it calls) adds what only it knows
to the action in progress with `note(...)`, a no-op outside one. Actions without a request (the
sweep, the work queue) call `record_system(...)`.

No secret in a record: `details` keeps only the keys of `DETAIL_FIELDS` with scalar or short list
values; the rest of a record is ids, names of things and the request's IP and user agent.

A record that cannot be written is retried (`WRITE_ATTEMPTS` in all), then logged at ERROR as
"audit record not written" with the whole record (it holds no secret, so it can be recovered from
the log) and never raised: the action it records has happened, and failing the caller's request
afterwards would tell them it had not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from oauth_broker.binding import bound
from oauth_broker.ids import new_id
from oauth_broker.observability import logger, metric

if TYPE_CHECKING:
    from oauth_broker.events.publisher import EventPublisher
    from oauth_broker.store.audit import AuditStore

__all__ = [
    "AUDIT_ACTIONS",
    "DETAIL_FIELDS",
    "Actor",
    "AuditScope",
    "AuditTrail",
    "audit_scope",
    "clean_details",
    "current_scope",
    "instant",
    "note",
    "parse_instant",
    "record_system",
]

Outcome = Literal["succeeded", "failed"]
ActorType = Literal["user", "api_key", "system"]

AUDIT_ACTIONS = frozenset(
    {
        "settings.updated",
        "api_key.created",
        "api_key.deleted",
        "oauth_client.created",
        "oauth_client.updated",
        "oauth_client.deleted",
        "provider.registered",
        "provider.updated",  # a PATCH refused before its body said which way (422)
        "provider.enabled",
        "provider.disabled",
        "connection.confirmed",
        "connection.token_exposed",
        "connection.deleted",
        "connection.revoked",  # by the broker: a provider disabled, through the work queue
        "connection.discarded",  # a connect result nobody (or somebody else) confirmed
        # a disconnect's revocation retried by the sweep (a tombstone): done, or given up
        "connection.revocation_completed",
        "connection.revocation_failed",
        # Google security events (oauth_broker.risc): revoked above, or these
        "connection.needs_reauth",
        "connection.security_event",
    }
)
# The only keys a record's details may carry: names, flags, provider keys, scopes, outcomes.
DETAIL_FIELDS = frozenset(
    {
        "provider",
        "custom",
        "enabled",
        "fields",
        "expose_access_tokens",
        "scopes",
        "kind",
        "connection_status",
        "revocation",
        "revocation_error",
        "reason",
        "queued",
        "switched",
        "attempts",
        "event_type",
    }
)
WRITE_ATTEMPTS = 3
_MAX_TEXT = 256
_MAX_ITEMS = 50
DEFAULT_RETENTION_DAYS = 400


def instant(epoch: float | None = None) -> str:
    """An RFC 3339 UTC instant to the millisecond: `2026-12-06T12:00:00.123Z` (records sort by it)."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str) -> str:
    """Any RFC 3339 date-time (with its offset) as an `instant`; ValueError otherwise."""
    text = value.strip()
    if "T" not in text.upper() or not (text.upper().endswith("Z") or text[-6] in "+-"):
        raise ValueError("not an RFC 3339 date-time with an offset")
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return instant(moment.timestamp())


def _clean_value(value: Any) -> Any:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return [str(v)[:_MAX_TEXT] for v in items[:_MAX_ITEMS] if isinstance(v, str | int | bool)]
    return None


def clean_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """`details` without any key outside `DETAIL_FIELDS`, values scalars or short string lists."""
    cleaned = {k: _clean_value(v) for k, v in details.items() if k in DETAIL_FIELDS}
    return {k: v for k, v in cleaned.items() if v is not None}


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str
    on_behalf_of: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    def as_dict(self) -> dict[str, str]:
        data = {"type": self.type, "id": self.id}
        for name in ("on_behalf_of", "ip", "user_agent"):
            value = getattr(self, name)
            if value:
                data[name] = str(value)[:_MAX_TEXT]
        return data


SYSTEM = Actor(type="system", id="oauth-broker")


@dataclass
class AuditScope:
    """The action a request is performing: what the route layer records when it ends."""

    action: str
    resource_type: str
    resource_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_scope: ContextVar[AuditScope | None] = ContextVar("oauth_broker_audit_scope", default=None)


def audit_scope(scope: AuditScope) -> AbstractContextManager[AuditScope]:
    """`scope` is the action in progress for the length of a `with` block."""
    return bound(_scope, scope)


def current_scope() -> AuditScope | None:
    return _scope.get()


def note(*, action: str | None = None, resource_id: str | None = None, **details: Any) -> None:
    """Adds to the audited action in progress (no-op outside one): the resource it created or
    touched, a more precise action, allow-listed details."""
    scope = _scope.get()
    if scope is None:
        return
    if action is not None:
        if action not in AUDIT_ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        scope.action = action
    if resource_id is not None:
        scope.resource_id = resource_id
    scope.details.update(clean_details(details))


class AuditTrail:
    """Writes records (`AuditStore`) and publishes them (`audit.<action>`)."""

    def __init__(self, store: AuditStore, publisher: EventPublisher, *, retention_days: int):
        self.store = store
        self.publisher = publisher
        self.retention_days = retention_days

    def record(
        self,
        *,
        tenant: str,
        action: str,
        outcome: Outcome,
        actor: Actor,
        resource_type: str,
        resource_id: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Writes and publishes one record; returns it. Never raises for a storage failure."""
        if action not in AUDIT_ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        now = time.time()
        record: dict[str, Any] = {
            "id": new_id("aud"),
            "tenant": tenant,
            "action": action,
            "outcome": outcome,
            "status": status,
            "code": code if outcome == "failed" else None,
            "actor": actor.as_dict(),
            "resource": {"type": resource_type, "id": resource_id}
            if resource_id
            else {"type": resource_type},
            "occurred_at": instant(now),
            "details": clean_details(details or {}),
        }
        record = {k: v for k, v in record.items() if v is not None}
        ttl = int(now) + self.retention_days * 86400
        if self._write(record, ttl):
            self.publisher.publish_audit(record)
        return record

    def _write(self, record: dict[str, Any], ttl: int) -> bool:
        # A retried write whose first attempt had landed meets its own record: `append` says so
        # (False) and that counts as written.
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self.store.append(record, ttl=ttl)
                return True
            except Exception as exc:
                logger.warning(
                    "audit record write failed",
                    extra={"action": record["action"], "error_type": type(exc).__name__, "attempt": attempt},
                )
        logger.error(
            "audit record not written",
            extra={
                "action": record["action"],
                "tenant": record["tenant"],
                "audit_id": record["id"],
                "resource_id": record["resource"].get("id"),
                "actor_id": record["actor"]["id"],
                "audit_record": record,
            },
        )
        metric("audit_write_failed")
        return False


def audit_trail(services: Any) -> AuditTrail:
    """The services' audit trail (one per process)."""
    from oauth_broker.store.audit import AuditStore

    def build() -> AuditTrail:
        return AuditTrail(
            AuditStore(services.table),
            services.publisher,
            retention_days=services.config.audit_retention_days,
        )

    trail: AuditTrail = services.singleton("audit_trail", build)
    return trail


def record_system(
    services: Any,
    *,
    tenant: str,
    action: str,
    resource_type: str,
    resource_id: str | None,
    outcome: Outcome = "succeeded",
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A record of what the broker did on its own (no request: actor `system`)."""
    return audit_trail(services).record(
        tenant=tenant,
        action=action,
        outcome=outcome,
        actor=SYSTEM,
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
    )
