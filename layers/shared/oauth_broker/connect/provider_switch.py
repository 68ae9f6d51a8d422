"""What disabling and re-enabling a provider does to a tenant's connections.

Disabling cuts every connection of the provider at once: each becomes `revoked` with
`status_reason` `provider_disabled` (a compare-and-set write per connection, retried on a lost
race) and a `connection.revoked` event is published. The proxy and the refresher read only the
connection item, so they stop on their next read; the refresh-due index entry disappears with the
status. What the connection was before is kept on the item (`status_before_disable`,
`status_reason_before_disable`), and re-enabling restores it (`connection.updated`). Tokens are
kept: re-enabling is instant and needs no consent.

Both are idempotent: repeating `PATCH /v1/providers/{key}` finishes a cut or a restore that an
earlier call could not complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import ConditionFailed
from oauth_broker.timeutil import rfc3339

PROVIDER_DISABLED = "provider_disabled"
_ATTEMPTS = 5


@dataclass
class SwitchReport:
    changed: int = 0
    unchanged: int = 0
    failed: int = 0


def tenant_connections_of(services: Any, tenant: str, provider: str) -> Iterator[ConnectionRecord]:
    """Every connection of `provider` in the tenant (ByTenant index, filtered on the provider)."""
    items = services.table.query_all(
        "tenant_pk = :t",
        {":t": f"TENANT#{tenant}#CON", ":p": provider},
        index="ByTenant",
        filter_expression="#provider = :p",
        names={"#provider": "provider"},
    )
    for item in items:
        yield ConnectionRecord.from_item(item)


def _apply(
    services: Any,
    rec: ConnectionRecord,
    change: Callable[[ConnectionRecord], ConnectionRecord | None],
) -> ConnectionRecord | None:
    """CAS-writes `change(current)`; re-reads and retries on a lost race. None: nothing to do."""
    current: ConnectionRecord | None = rec
    for _ in range(_ATTEMPTS):
        if current is None:
            return None
        new = change(current)
        if new is None:
            return None
        try:
            saved: ConnectionRecord = services.connections.save(new, expected_version=current.version)
            return saved
        except ConditionFailed:
            current = services.connections.get(rec.id)
    raise ConditionFailed("the connection kept changing; retry")


def _cut(rec: ConnectionRecord) -> ConnectionRecord | None:
    if rec.status == ConnectionStatus.REVOKED:
        return None
    return rec.model_copy(
        update={
            "status": ConnectionStatus.REVOKED,
            "status_reason": PROVIDER_DISABLED,
            "status_before_disable": rec.status,
            "status_reason_before_disable": rec.status_reason,
            "updated_at": rfc3339(),
        }
    )


def _restore(rec: ConnectionRecord) -> ConnectionRecord | None:
    if rec.status != ConnectionStatus.REVOKED or rec.status_reason != PROVIDER_DISABLED:
        return None
    return rec.model_copy(
        update={
            "status": rec.status_before_disable or ConnectionStatus.ACTIVE,
            "status_reason": rec.status_reason_before_disable,
            "status_before_disable": None,
            "status_reason_before_disable": None,
            "updated_at": rfc3339(),
        }
    )


def cut_connection(services: Any, rec: ConnectionRecord) -> ConnectionRecord | None:
    """Cuts one connection (publishes `connection.revoked`); None when it was already revoked."""
    saved = _apply(services, rec, _cut)
    if saved is not None:
        services.publisher.publish("revoked", saved, reason=PROVIDER_DISABLED)
    return saved


def _switch(services: Any, tenant: str, provider: str, *, disable: bool) -> SwitchReport:
    report = SwitchReport()
    for rec in tenant_connections_of(services, tenant, provider):
        try:
            if disable:
                saved = cut_connection(services, rec)
            else:
                saved = _apply(services, rec, _restore)
                if saved is not None:
                    services.publisher.publish("updated", saved, reason="provider_enabled")
        except ConditionFailed:
            report.failed += 1
            continue
        if saved is None:
            report.unchanged += 1
        else:
            report.changed += 1
    logger.info(
        "provider connections switched",
        extra={
            "tenant": tenant,
            "provider": provider,
            "disabled": disable,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "failed": report.failed,
        },
    )
    return report


def disable_provider_connections(services: Any, tenant: str, provider: str) -> SwitchReport:
    return _switch(services, tenant, provider, disable=True)


def restore_provider_connections(services: Any, tenant: str, provider: str) -> SwitchReport:
    return _switch(services, tenant, provider, disable=False)
