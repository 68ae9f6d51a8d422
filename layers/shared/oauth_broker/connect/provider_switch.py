"""What disabling and re-enabling a provider does to a tenant's connections.

Disabling cuts every connection of the provider: each becomes `revoked` with `status_reason`
`provider_disabled` (a compare-and-set write per connection, retried on a lost race) and a
`connection.revoked` event is published. The proxy and the refresher read only the connection
item, so they stop on their next read; the refresh-due index entry disappears with the status.
What the connection was before is kept on the item (`status_before_disable`,
`status_reason_before_disable`), and re-enabling restores it (`connection.updated`). Tokens are
kept: re-enabling is instant and needs no consent.

The request switches the first page of the tenant's connections itself (`INLINE_PAGE` of them,
about a second of writes): a tenant that small is done when the answer comes. A bigger tenant's
rest goes through the work queue (`tokens.queue`), so no request has to switch thousands of
connections before API Gateway's 30 s: a `switch` job reads one page of the ByTenant index, fans
it out as `reconcile` jobs of `RECONCILE_IDS` connections (consumed concurrently by the refresh
function) and chains the next page's `switch` job. A `reconcile` job brings each connection in line
with the provider's state AT THAT TIME (cut if disabled, restore if enabled), so a disable quickly
followed by a re-enable converges on enabled whatever order the jobs run in.

Both are idempotent: repeating `PATCH /v1/providers/{key}` finishes a cut or a restore that an
earlier call could not complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from oauth_broker import audit
from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.table import ConditionFailed
from oauth_broker.timeutil import rfc3339

PROVIDER_DISABLED = "provider_disabled"
_ATTEMPTS = 5
INLINE_PAGE = 100  # connections (of any provider) the request reads and switches itself
PAGE_SIZE = 500  # connections a queued `switch` job reads per page
RECONCILE_IDS = 25  # connections per `reconcile` job


@dataclass
class SwitchReport:
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    queued: bool = False  # the rest of the tenant's connections is being switched through the queue


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


def _page(
    services: Any, tenant: str, provider: str, start: dict[str, Any] | None, limit: int
) -> tuple[list[ConnectionRecord], dict[str, Any] | None]:
    """One ByTenant page (`limit` connections read, those of `provider` kept), and the next key."""
    items, last = services.table.query(
        "tenant_pk = :t",
        {":t": f"TENANT#{tenant}#CON", ":p": provider},
        index="ByTenant",
        filter_expression="#provider = :p",
        names={"#provider": "provider"},
        limit=limit,
        start_key=start,
    )
    return [ConnectionRecord.from_item(item) for item in items], last


def _apply(
    services: Any, rec: ConnectionRecord, change: Callable[[ConnectionRecord], ConnectionRecord | None]
) -> ConnectionRecord | None:
    """CAS-writes `change(current)`, re-reading and retrying on a lost race. None: nothing to do."""
    saved: ConnectionRecord | None = services.connections.save_change(rec, change, attempts=_ATTEMPTS)
    return saved


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
    """Cuts one connection (publishes `connection.revoked`, and records it in the tenant's audit
    trail as the broker's own `connection.revoked`); None when it was already revoked."""
    saved = _apply(services, rec, _cut)
    if saved is not None:
        services.publisher.publish("revoked", saved, reason=PROVIDER_DISABLED)
        audit.record_system(
            services,
            tenant=saved.tenant,
            action="connection.revoked",
            resource_type="connection",
            resource_id=saved.id,
            details={"reason": PROVIDER_DISABLED, "provider": saved.provider},
        )
    return saved


def _switch_one(services: Any, rec: ConnectionRecord, *, disable: bool, report: SwitchReport) -> None:
    try:
        if disable:
            saved = cut_connection(services, rec)
        else:
            saved = _apply(services, rec, _restore)
            if saved is not None:
                services.publisher.publish("updated", saved, reason="provider_enabled")
    except ConditionFailed:
        report.failed += 1
        return
    if saved is None:
        report.unchanged += 1
    else:
        report.changed += 1


def _switch(services: Any, tenant: str, provider: str, *, disable: bool) -> SwitchReport:
    """The first `INLINE_PAGE` connections here; the rest through the work queue (or here too,
    page after page, where the deployment has no queue)."""
    from oauth_broker.tokens.queue import switch_job, work_queue

    report = SwitchReport()
    queue = work_queue(services)
    start: dict[str, Any] | None = None
    while True:
        page, start = _page(services, tenant, provider, start, INLINE_PAGE)
        for rec in page:
            _switch_one(services, rec, disable=disable, report=report)
        if not start:
            break
        if queue is not None:
            if queue.send([switch_job(tenant, provider, start)]):
                from oauth_broker.errors import ServiceUnavailable

                raise ServiceUnavailable(
                    "the provider's state is saved but its connections could not all be switched; "
                    "repeat the request",
                    headers={"Retry-After": "5"},
                )
            report.queued = True
            break
    logger.info(
        "provider connections switched",
        extra={
            "tenant": tenant,
            "provider": provider,
            "disabled": disable,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "failed": report.failed,
            "queued": report.queued,
        },
    )
    return report


def disable_provider_connections(services: Any, tenant: str, provider: str) -> SwitchReport:
    return _switch(services, tenant, provider, disable=True)


def restore_provider_connections(services: Any, tenant: str, provider: str) -> SwitchReport:
    return _switch(services, tenant, provider, disable=False)


# -- the work queue's side (the refresh function) ------------------------------------------------
def fan_out_page(services: Any, tenant: str, provider: str, cursor: str | None) -> int:
    """A `switch` job: one page of the tenant's connections of `provider`, sent as `reconcile`
    jobs, then the next page's `switch` job. Returns how many `reconcile` jobs it sent. Raises
    when a job could not be sent (the record is redelivered: the page is fanned out again, which
    only repeats idempotent work)."""
    from oauth_broker.tokens.queue import reconcile_job, switch_job, work_queue

    queue = work_queue(services)
    if queue is None:
        raise RuntimeError("no work queue is configured")
    start = json.loads(cursor) if cursor else None
    if start is not None and (
        not isinstance(start, dict) or start.get("tenant_pk") != f"TENANT#{tenant}#CON"
    ):
        raise ValueError("the cursor is not one of this tenant's")
    page, last = _page(services, tenant, provider, start, PAGE_SIZE)
    ids = [rec.id for rec in page]
    jobs = [
        reconcile_job(tenant, provider, ids[i : i + RECONCILE_IDS]) for i in range(0, len(ids), RECONCILE_IDS)
    ]
    if last:
        jobs.append(switch_job(tenant, provider, last))
    if queue.send(jobs):
        raise RuntimeError("jobs not queued")
    return len(jobs) - (1 if last else 0)


def reconcile(services: Any, tenant: str, provider: str, ids: list[str]) -> SwitchReport:
    """A `reconcile` job: each connection brought in line with the provider's current state for
    the tenant (one read of the state, then a compare-and-set per connection that differs)."""
    from oauth_broker.errors import NotFound
    from oauth_broker.providers.registry import provider_registry

    report = SwitchReport()
    try:
        enabled = provider_registry(services).get(tenant, provider).enabled
    except NotFound:
        return report  # the provider is gone: nothing to line up with
    for connection_id in ids:
        rec = services.connections.get(connection_id)
        if rec is None or rec.tenant != tenant or rec.provider != provider:
            report.unchanged += 1
            continue
        _switch_one(services, rec, disable=not enabled, report=report)
    return report
