"""Direct invocations of the refresh function: the api function holds no decrypt rights, so a
forced refresh and a disconnect run in the refresh function, called synchronously.

Payloads (validated here, in the refresh function)::

    {"action": "refresh", "tenant": "acme", "connection_id": "con_…", "force": true, "budget_ms": 20000}
        -> the connection's public fields (never a token or an `enc_*` attribute)
    {"action": "revoke", "tenant": "acme", "connection_id": "con_…", "budget_ms": 20000}
        -> RevocationReport.as_dict()

Any failure answers `{"error": {"code", "detail", ...}}`: a stable problem code, never a stack
trace. `RefreshFunctionClient` (the api side) turns those back into the same `BrokerError`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from oauth_broker.dependency_errors import dependency_error, dependency_fault_code
from oauth_broker.errors import (
    BrokerError,
    ConfirmationRequired,
    Conflict,
    Forbidden,
    NeedsReauth,
    NotFound,
    ProviderDisabled,
    RateLimited,
    ServiceMisconfigured,
    ServiceUnavailable,
    UpstreamError,
)
from oauth_broker.observability import logger
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.tokens.revocation import RevocationReport

if TYPE_CHECKING:
    from oauth_broker.services import Services

DEFAULT_BUDGET_MS = 20_000
DEADLINE_MARGIN_SECONDS = 1.0  # answer this long before the refresh function's own timeout

# What a forced refresh returns: the connection as GET /v1/connections/{id} shows it, minus
# nothing secret (tokens only ever exist as enc_* attributes, which are not listed here).
PUBLIC_FIELDS = (
    "id",
    "tenant",
    "owner",
    "name",
    "provider",
    "oauth_client_id",
    "account_email",
    "account_sub",
    "scopes_requested",
    "scopes_granted",
    "status",
    "status_reason",
    "concurrency_level",
    "borrow_concurrency_from",
    "metadata",
    "created_at",
    "updated_at",
    "last_refreshed_at",
    "expires_at",
    "version",
)
# Error fields that may travel with a code (all non-secret by construction).
_SAFE_EXTRAS = ("connection_id", "reason", "hint", "retry_after")


class _Invocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=256)
    connection_id: str = Field(pattern=r"^con_[A-Za-z0-9_-]{1,128}$")
    budget_ms: int | None = Field(default=None, ge=500, le=900_000)


class RefreshInvocation(_Invocation):
    action: Literal["refresh"]
    force: bool = True


class RevokeInvocation(_Invocation):
    action: Literal["revoke"]


_PAYLOAD: TypeAdapter[RefreshInvocation | RevokeInvocation] = TypeAdapter(
    Annotated[RefreshInvocation | RevokeInvocation, Field(discriminator="action")]
)


def connection_public_fields(rec: ConnectionRecord) -> dict[str, Any]:
    return rec.model_dump(mode="json", include=set(PUBLIC_FIELDS))


def error_answer(err: BrokerError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": err.code, "detail": err.detail}
    for key in _SAFE_EXTRAS:
        value = err.extra.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            error[key] = value
    retry_after = err.headers.get("Retry-After")
    if retry_after:
        error["retry_after"] = retry_after
    return {"error": error}


# -- the refresh function's side ----------------------------------------------------------------------
def handle_invocation(services: Services, event: Mapping[str, Any], *, deadline: float) -> dict[str, Any]:
    """Runs one direct invocation. `deadline`: the function's own end (a monotonic value)."""
    from oauth_broker.tokens.refresher import token_refresher

    try:
        payload = _PAYLOAD.validate_python(dict(event))
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "payload" for e in exc.errors()})
        return {"error": {"code": "validation_error", "detail": "invalid invocation: " + ", ".join(fields)}}
    refresher = token_refresher(services)
    budget = (payload.budget_ms or DEFAULT_BUDGET_MS) / 1000
    effective = min(deadline - DEADLINE_MARGIN_SECONDS, refresher.clock.monotonic() + budget)
    try:
        if isinstance(payload, RefreshInvocation):
            conn = services.connections.get(payload.connection_id)
            if conn is None or conn.tenant != payload.tenant:
                raise NotFound(f"connection {payload.connection_id} not found")
            refresher.get_fresh_token(conn, force=payload.force, deadline=effective)
            latest = services.connections.get(payload.connection_id)
            if latest is None:
                raise NotFound(f"connection {payload.connection_id} not found")
            return connection_public_fields(latest)
        from oauth_broker.tokens.revocation import ConnectionRevoker

        report = ConnectionRevoker(services, refresher).revoke_and_delete(
            payload.tenant, payload.connection_id, deadline=effective
        )
        return report.as_dict()
    except BrokerError as err:
        return error_answer(err)
    except Exception as exc:  # the type only: a message may carry data we must not return
        dependency = dependency_error(exc)  # an AWS fault: 503 (retry) or service_misconfigured
        if dependency is not None:
            logger.warning(
                "invocation failed: dependency",
                extra={"action": payload.action, "aws_error": dependency_fault_code(exc)},
            )
            return error_answer(dependency)
        logger.error("invocation failed", extra={"action": payload.action, "error_type": type(exc).__name__})
        return {"error": {"code": "internal_error", "detail": "the refresh function failed"}}


# -- the api function's side --------------------------------------------------------------------------
_ERRORS: dict[str, type[BrokerError]] = {
    "not_found": NotFound,
    "needs_reauth": NeedsReauth,
    "confirmation_required": ConfirmationRequired,
    "provider_disabled": ProviderDisabled,
    "upstream_error": UpstreamError,
    "conflict": Conflict,
    "rate_limited": RateLimited,
    "forbidden": Forbidden,
    "service_unavailable": ServiceUnavailable,
    "service_misconfigured": ServiceMisconfigured,
}


def error_from_answer(error: Any) -> BrokerError:
    """The BrokerError an `{"error": {...}}` answer stands for (unknown codes: a 500)."""
    if not isinstance(error, Mapping):
        return BrokerError("the refresh function failed")
    cls = _ERRORS.get(str(error.get("code")))
    if cls is None:
        return BrokerError("the refresh function failed")
    extra = {k: error[k] for k in ("connection_id", "reason", "hint") if isinstance(error.get(k), str)}
    headers = {"Retry-After": str(error["retry_after"])} if error.get("retry_after") else None
    return cls(str(error.get("detail") or cls.title), headers=headers, **extra)


class RefreshFunctionClient:
    """The api function's way to the refresh function (`services.invoke_refresh`)."""

    def __init__(self, services: Services):
        self.services = services

    def _call(self, payload: dict[str, Any]) -> dict[str, Any]:
        result = self.services.invoke_refresh(payload)
        if not isinstance(result, dict):
            raise UpstreamError("the refresh function gave no answer")
        if isinstance(result.get("error"), Mapping):  # a report's own `error` field is a code or None
            raise error_from_answer(result["error"])
        return result

    def refresh(self, tenant: str, connection_id: str, *, budget_ms: int | None = None) -> dict[str, Any]:
        """Forces a refresh; returns the connection's public fields."""
        payload: dict[str, Any] = {
            "action": "refresh",
            "tenant": tenant,
            "connection_id": connection_id,
            "force": True,
        }
        if budget_ms:
            payload["budget_ms"] = budget_ms
        return self._call(payload)

    def revoke(self, tenant: str, connection_id: str, *, budget_ms: int | None = None) -> RevocationReport:
        payload: dict[str, Any] = {"action": "revoke", "tenant": tenant, "connection_id": connection_id}
        if budget_ms:
            payload["budget_ms"] = budget_ms
        return RevocationReport.from_dict(self._call(payload))


def disconnect(
    services: Services, conn: ConnectionRecord, *, budget_ms: int | None = None
) -> RevocationReport:
    """DELETE /v1/connections/{id}: revoke (in the refresh function), then delete, in any case.

    When the refresh function cannot be reached or fails, the connection is deleted from here
    (the api function may delete items) and the failed revocation is reported and published; a
    refresh token is left in a tombstone (`pending_retry`) for the sweep to revoke later.
    """
    try:
        return RefreshFunctionClient(services).revoke(conn.tenant, conn.id, budget_ms=budget_ms)
    except NotFound:
        raise
    except Exception as exc:
        logger.warning(
            "refresh function unavailable for a disconnect; deleting without revocation",
            extra={"connection_id": conn.id, "error_type": type(exc).__name__},
        )
    from oauth_broker.tokens.lease import LeaseStore

    services.connections.delete(conn.id)
    try:
        LeaseStore(services.table).delete(conn.id)
    except Exception as exc:
        logger.warning("lease not deleted", extra={"error_type": type(exc).__name__})
    gone = conn.model_copy(update={"status": ConnectionStatus.REVOKED, "status_reason": "deleted"})
    error = "refresh_function_unavailable"
    outcome: Literal["failed", "pending_retry"] = "failed"
    if conn.enc_refresh_token:
        # the sweep (refresh function) retries it later: the blob is copied, never decrypted here
        import time

        from oauth_broker.tokens.revocation_retries import leave_tombstone

        try:
            leave_tombstone(services, gone, now=int(time.time()), error=error)
            outcome = "pending_retry"
        except Exception as exc:
            logger.error(
                "revocation tombstone not written",
                extra={"connection_id": conn.id, "error_type": type(exc).__name__},
            )
    services.publisher.publish("revoked", gone, reason="deleted")
    services.publisher.publish(
        "revocation_failed", gone, outcome=outcome, error=error, final=outcome == "failed"
    )
    services.publisher.publish("deleted", gone, provider_revocation=outcome)
    return RevocationReport(conn.id, deleted=True, revoked=False, outcome=outcome, error=error)
