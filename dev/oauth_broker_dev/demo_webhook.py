"""The demo page's webhook receiver (`make dev` only): the demo sets `<base>/demo/webhook/<id>` as
its tenant's `webhook_url`, with a secret this module generated, and reads what arrived there.

It receives deliveries as a tenant's backend should (docs/webhooks.md "Verifying a delivery"):
HMAC-SHA256 over `"<t>." + raw body` with the tenant's secret, compared in constant time, a
timestamp at most 5 minutes old, and duplicates dropped by event id (deliveries are at least once).
It keeps the last `KEEP` events of each tenant in memory, for the page to poll.

Every route but the delivery itself takes the demo's dev-idp bearer token (the one the page signs
in with, verified here against the development identity provider's key): a tenant admin sees and
configures only their own tenant's receiver.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

from werkzeug.wrappers import Request, Response

from oauth_broker.events.webhooks import sign
from oauth_broker_dev import devidp

PREFIX = "/demo/webhook"
KEEP = 100  # events kept per tenant
TOLERANCE = 300  # seconds: an older signature timestamp is refused (a replayed delivery)
MAX_BODY = 256 * 1024
ADMIN_GROUP = "broker-admin"


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = TOLERANCE) -> bool:
    """docs/webhooks.md's `verify_signature`: True when `header` (X-OAuth-Broker-Signature) signs
    `body` (the raw request body) with `secret`, made less than `tolerance` seconds ago."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        signature = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret.encode(), timestamp, body), f"t={timestamp},v1={signature}")


@dataclass
class _Receiver:
    tenant: str
    receiver_id: str
    secret: str
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP))
    seen: deque[str] = field(default_factory=lambda: deque(maxlen=4 * KEEP))
    next_seq: int = 1


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _problem(status: int, code: str, detail: str) -> Response:
    titles = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
    }
    body = {
        "type": "about:blank",
        "title": titles.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


class DemoWebhooks:
    """The receivers, one per tenant (created by the demo; gone when the dev server stops).

    Routes (under /demo/webhook):
      POST /demo/webhook/receivers  (dev token, admin) -> {webhook_url, webhook_secret}: this
           tenant's receiver, created with a new secret (a new one replaces the old)
      GET  /demo/webhook/receivers  (dev token, admin) -> {webhook_url | null}
      GET  /demo/webhook/events?after=<seq>  (dev token, admin) -> {events: [{seq, received_at,
           event}], last_seq}: what this tenant's receiver verified, oldest first
      POST /demo/webhook/<receiver id>  (the broker's webhook delivery, HMAC-signed) -> 204
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._by_tenant: dict[str, _Receiver] = {}
        self._by_id: dict[str, _Receiver] = {}
        self._lock = threading.Lock()

    def url(self, receiver: _Receiver) -> str:
        return f"{self.base_url}{PREFIX}/{receiver.receiver_id}"

    def __call__(self, req: Request) -> Response:
        rest = req.path.removeprefix(PREFIX).strip("/")
        if rest == "receivers":
            if req.method == "POST":
                return self._authorized(req, self._create)
            if req.method == "GET":
                return self._authorized(req, self._show)
            return Response(status=405, headers={"Allow": "GET, POST"})
        if rest == "events":
            if req.method != "GET":
                return Response(status=405, headers={"Allow": "GET"})
            return self._authorized(req, lambda tenant: self._events(tenant, req))
        if rest and "/" not in rest:
            if req.method != "POST":
                return Response(status=405, headers={"Allow": "POST"})
            return self._deliver(rest, req)
        return _problem(404, "not_found", "no such demo webhook route")

    # -- the demo page's side ------------------------------------------------------------------
    @staticmethod
    def _tenant_admin(req: Request) -> str | None:
        """The tenant of a valid dev-idp token of a tenant admin (None otherwise)."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        try:
            token = jwt.decode(
                auth.removeprefix("Bearer ").strip(),
                KeySet.import_key_set(cast(Any, devidp.jwks())),
                algorithms=["ES256"],
            )
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": devidp.DEV_ISSUER},
                aud={"essential": True, "value": devidp.DEV_AUDIENCE},
                exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError):
            return None
        tenant, groups = token.claims.get("tenant"), token.claims.get("groups") or []
        if not isinstance(tenant, str) or not tenant or ADMIN_GROUP not in groups:
            return None
        return tenant

    def _authorized(self, req: Request, handler: Any) -> Response:
        tenant = self._tenant_admin(req)
        if tenant is None:
            return _problem(
                401, "unauthorized", "a tenant admin's dev token (Authorization: Bearer) is needed"
            )
        response: Response = handler(tenant)
        return response

    def _create(self, tenant: str) -> Response:
        receiver = _Receiver(tenant, secrets.token_urlsafe(12), secrets.token_urlsafe(32))
        with self._lock:
            old = self._by_tenant.get(tenant)
            if old is not None:
                self._by_id.pop(old.receiver_id, None)
                receiver.events, receiver.seen, receiver.next_seq = old.events, old.seen, old.next_seq
            self._by_tenant[tenant] = receiver
            self._by_id[receiver.receiver_id] = receiver
        return _json({"webhook_url": self.url(receiver), "webhook_secret": receiver.secret}, 201)

    def _show(self, tenant: str) -> Response:
        with self._lock:
            receiver = self._by_tenant.get(tenant)
            return _json({"webhook_url": self.url(receiver) if receiver else None})

    def _events(self, tenant: str, req: Request) -> Response:
        try:
            after = int(req.args.get("after", "0"))
        except ValueError:
            return _problem(400, "bad_request", "after must be a number")
        with self._lock:
            receiver = self._by_tenant.get(tenant)
            events = [e for e in receiver.events if e["seq"] > after] if receiver else []
            last = receiver.next_seq - 1 if receiver else 0
        return _json({"events": events, "last_seq": last})

    # -- the broker's side ---------------------------------------------------------------------
    def _deliver(self, receiver_id: str, req: Request) -> Response:
        with self._lock:
            receiver = self._by_id.get(receiver_id)
        if receiver is None:
            return _problem(404, "not_found", "no such receiver")
        if (req.content_length or 0) > MAX_BODY:
            return _problem(400, "bad_request", "body too large")
        body = req.get_data(cache=False)
        if not verify_signature(receiver.secret, req.headers.get("X-OAuth-Broker-Signature", ""), body):
            return _problem(401, "invalid_signature", "the signature does not match")
        try:
            event = json.loads(body)
        except ValueError:
            return _problem(400, "bad_request", "the body is not JSON")
        if not isinstance(event, dict) or event.get("tenant") != receiver.tenant:
            return _problem(400, "bad_request", "an event of another tenant")
        event_id = str(event.get("event_id") or req.headers.get("X-OAuth-Broker-Delivery") or "")
        with self._lock:
            if event_id and event_id in receiver.seen:
                return Response(status=204)  # a retry of a delivery already received
            receiver.seen.append(event_id)
            receiver.events.append({"seq": receiver.next_seq, "received_at": time.time(), "event": event})
            receiver.next_seq += 1
        return Response(status=204)
