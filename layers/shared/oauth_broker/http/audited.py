"""`audited(action, resource=...)`: the route middleware that leaves one audit record per request.

    @router.post("/v1/api-keys", ..., middlewares=[audited("api_key.created", resource="api_key")])

Around the route (after Powertools' request validation), it opens the action's `AuditScope`, runs
the route, and records the outcome: `succeeded` for a 2xx/3xx answer, `failed` with the status and
problem code for a 4xx/5xx answer or an exception (re-raised, so the resolver answers it as
always). The resource id is the route's path parameter `id_param`, or what the route sets with
`oauth_broker.audit.note(resource_id=...)` (what it created). A request refused before the route
runs (a body that fails validation: 422, 400 `invalid_json`, 415) is recorded as failed by the
resolver's exception handlers through `record_refused` (`oauth_broker.http.resolver`).

The actor comes from the bound invocation (`current_invocation`): the authorizer's context (a
user, or an API key's id with the `X-On-Behalf-Of` user), `requestContext.http.sourceIp` and the
user agent. API Gateway's own 401/403 never reach a function and are not recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from oauth_broker.audit import AUDIT_ACTIONS, Actor, AuditScope, audit_scope, audit_trail
from oauth_broker.errors import BrokerError
from oauth_broker.http.invocation import current_invocation
from oauth_broker.observability import logger

__all__ = ["AuditedRoute", "actor_of", "audited", "record_refused"]

_RECORDED = "_oauth_broker_audit_recorded"


def actor_of(event: Mapping[str, Any]) -> tuple[str | None, Actor]:
    """(tenant, actor) of an API Gateway event, from the authorizer's context; never raises."""
    request = event.get("requestContext") or {}
    ctx = (request.get("authorizer") or {}).get("lambda") or {}
    http = request.get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    ip = str(http.get("sourceIp") or "") or None
    user_agent = str(http.get("userAgent") or headers.get("user-agent") or "") or None
    tenant = str(ctx.get("tenant") or "") or None
    if ctx.get("via") == "api_key":
        key_id = str(ctx.get("key_id") or ctx.get("user") or "")
        on_behalf_of = headers.get("x-on-behalf-of") or None
        return tenant, Actor("api_key", key_id, on_behalf_of=on_behalf_of, ip=ip, user_agent=user_agent)
    return tenant, Actor("user", str(ctx.get("user") or ""), ip=ip, user_agent=user_agent)


def _failure(err: Exception) -> tuple[int, str]:
    """The status and code a route's exception is answered with (`http.failures`, not logged)."""
    if isinstance(err, BrokerError):
        return err.status, err.code
    from oauth_broker.dependency_errors import dependency_error

    dependency = dependency_error(err)
    if dependency is not None:
        return dependency.status, dependency.code
    return 500, "internal_error"


def _response_code(result: Any) -> str | None:
    """A problem document's `code`, when the route answered one itself."""
    import json

    body = getattr(result, "body", None)
    if isinstance(body, str | bytes) and body[:1] in ("{", b"{"):
        try:
            code = json.loads(body).get("code")
        except (ValueError, AttributeError):
            return None
        return code if isinstance(code, str) else None
    return None


class AuditedRoute:
    """A Powertools route middleware (`middlewares=[...]`) recording the route's action."""

    __name__ = "audited"

    def __init__(self, action: str, resource_type: str, id_param: str | None) -> None:
        if action not in AUDIT_ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        self.action = action
        self.resource_type = resource_type
        self.id_param = id_param

    def scope(self, app: Any) -> AuditScope:
        args = (getattr(app, "context", None) or {}).get("_route_args") or {}
        resource_id = args.get(self.id_param) if self.id_param else None
        return AuditScope(self.action, self.resource_type, str(resource_id) if resource_id else None)

    def __call__(self, app: Any, next_middleware: Callable[[Any], Any]) -> Any:
        with audit_scope(self.scope(app)) as scope:
            try:
                result = next_middleware(app)
            except Exception as exc:
                status, code = _failure(exc)
                _record(scope, "failed", status, code)
                setattr(exc, _RECORDED, True)
                raise
        status = int(getattr(result, "status_code", 200))
        failed = status >= 400
        _record(
            scope, "failed" if failed else "succeeded", status, _response_code(result) if failed else None
        )
        return result


def audited(action: str, *, resource: str, id_param: str | None = None) -> AuditedRoute:
    """The middleware recording `action` on a `resource` (type), its id the path parameter
    `id_param` unless the route notes one."""
    return AuditedRoute(action, resource, id_param)


def _record(scope: AuditScope, outcome: str, status: int, code: str | None) -> None:
    """Records the scope's action for the bound invocation's caller; never raises (the answer
    must not change because its record could not be made: `AuditTrail` logs what it could not
    write)."""
    try:
        from oauth_broker.services import get_services

        tenant, actor = actor_of(current_invocation().event)
        if not tenant:
            logger.warning("audited request without a tenant: not recorded", extra={"action": scope.action})
            return
        audit_trail(get_services()).record(
            tenant=tenant,
            action=scope.action,
            outcome="failed" if outcome == "failed" else "succeeded",
            actor=actor,
            resource_type=scope.resource_type,
            resource_id=scope.resource_id,
            status=status,
            code=code,
            details=scope.details,
        )
    except Exception as exc:
        logger.error(
            "audit record not written",
            extra={
                "action": scope.action,
                "resource_id": scope.resource_id,
                "error_type": type(exc).__name__,
            },
        )


def record_refused(app: Any, err: Exception, status: int, code: str) -> None:
    """Records a failed action for a request refused before its audited route ran (validation,
    media type, JSON syntax); nothing for an unaudited route or an error the route's middleware
    recorded already. Never raises: the refusal is answered whatever happens here."""
    if getattr(err, _RECORDED, False):
        return
    route = (getattr(app, "context", None) or {}).get("_route")
    audited_by = next(
        (m for m in getattr(route, "middlewares", None) or [] if isinstance(m, AuditedRoute)), None
    )
    if audited_by is None:
        return
    _record(audited_by.scope(app), "failed", status, code)
