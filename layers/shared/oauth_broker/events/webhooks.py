"""Webhook delivery: a broker event, signed with the tenant's secret, POSTed to its webhook URL.

The webhook function runs `WebhookDelivery.deliver(event)` for every event an EventBridge rule
hands it, so delivery never blocks the request that caused the event. The body is the event's
`detail` as compact JSON; the signature header is

    X-OAuth-Broker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

(docs/webhooks.md shows a receiver verifying it). A delivery is retried with backoff on network
errors, timeouts, 408, 425, 429 and 5xx; when it still fails, `WebhookDeliveryFailed` is raised
so that Lambda's retries and the dead-letter queue take over. A webhook URL whose host resolves
to an address the outbound guard refuses (`oauth_broker.outbound`: loopback, private, link-local,
metadata...) is not called: the delivery is skipped as `webhook_address_not_allowed`, logged with
the code `address_not_allowed`, and not retried. Nothing here logs a secret, a
body, or the webhook URL beyond its host.

`LocalEventBridge` is the local runtime's stand-in for the bus and the rule: an event listener
(`Services(event_listeners=[...])`) that hands each event, EventBridge-shaped, to a target (the
webhook function's handler) in a background thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from oauth_broker.observability import logger

if TYPE_CHECKING:
    from oauth_broker.services import Services

SIGNATURE_HEADER = "X-OAuth-Broker-Signature"
EVENT_HEADER = "X-OAuth-Broker-Event"
DELIVERY_HEADER = "X-OAuth-Broker-Delivery"
# audit.<action> events (oauth_broker.audit) are never delivered to tenant webhooks; the
# template's rule does not even route them to the webhook function
AUDIT_EVENT_PREFIX = "audit."
USER_AGENT = "oauth-broker-webhooks/1"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
DEFAULT_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)
MAX_RETRY_AFTER_SECONDS = 5.0


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event_body(detail: Mapping[str, Any]) -> bytes:
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["delivered", "skipped"]
    event_id: str | None
    attempts: int = 0
    http_status: int | None = None
    reason: str | None = None  # why a delivery was skipped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WebhookDeliveryFailed(Exception):
    """Every attempt failed. The message names the host and an error code, nothing else."""

    def __init__(self, host: str, code: str, attempts: int):
        super().__init__(f"webhook delivery to {host} failed after {attempts} attempt(s): {code}")
        self.host = host
        self.code = code
        self.attempts = attempts


class WebhookDelivery:
    def __init__(
        self,
        services: Services,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.services = services
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.now = now
        self.sleep = sleep

    def deliver(self, event: Mapping[str, Any]) -> DeliveryResult:
        """Delivers one EventBridge event (`detail-type`, `detail`) to its tenant's webhook."""
        import httpx

        from oauth_broker.crypto.envelope import EncryptionContext
        from oauth_broker.outbound import OutboundAddressRefused, OutboundUrlRefused

        detail = event.get("detail")
        tenant = detail.get("tenant") if isinstance(detail, Mapping) else None
        if not isinstance(detail, Mapping) or not isinstance(tenant, str) or not tenant:
            return DeliveryResult("skipped", None, reason="not_a_broker_event")
        event_id = str(detail.get("event_id") or event.get("id") or "")
        event_type = str(detail.get("type") or event.get("detail-type") or "")
        if event_type.startswith(AUDIT_EVENT_PREFIX):
            # the audit trail is the operator's (GET /v1/audit, the bus), not the tenant app's
            return DeliveryResult("skipped", event_id, reason="audit_event")
        settings = self.services.settings.get(tenant)
        if not settings.webhook_url:
            return DeliveryResult("skipped", event_id, reason="no_webhook_url")
        if not settings.enc_webhook_secret:
            # An unsigned delivery could not be told from a forgery: we send none.
            logger.warning("webhook not delivered: no webhook_secret set", extra={"tenant": tenant})
            return DeliveryResult("skipped", event_id, reason="no_webhook_secret")
        try:
            # the URL's shape; the client's transport checks the address it connects to
            url = self.services.outbound.check_url(settings.webhook_url, resolve=False)
        except OutboundUrlRefused:
            logger.warning("webhook not delivered: webhook_url not allowed", extra={"tenant": tenant})
            return DeliveryResult("skipped", event_id, reason="webhook_url_not_allowed")
        host = urlsplit(url).hostname or "?"
        secret = self.services.envelope.decrypt(
            settings.enc_webhook_secret, EncryptionContext(tenant, "settings", "webhook_secret")
        )
        body = event_body(detail)
        code = "not_attempted"
        for attempt in range(1, self.attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(secret, int(self.now()), body),
                EVENT_HEADER: event_type,
                DELIVERY_HEADER: event_id,
            }
            retry_after: float | None = None
            try:
                resp = self.services.http.post(url, content=body, headers=headers, timeout=self.timeout)
            except OutboundAddressRefused:
                # the host resolves to a loopback, private, link-local or reserved address now
                # (changed since it was set, e.g. DNS rebinding): not retried, nothing sent
                logger.warning(
                    "webhook not delivered: address not allowed",
                    extra={"tenant": tenant, "host": host, "error": OutboundAddressRefused.code},
                )
                return DeliveryResult(
                    "skipped", event_id, attempts=attempt, reason="webhook_address_not_allowed"
                )
            except httpx.TimeoutException:
                code = "timeout"
            except httpx.HTTPError:
                code = "network_error"
            else:
                if 200 <= resp.status_code < 300:
                    logger.info(
                        "webhook delivered",
                        extra={"tenant": tenant, "type": event_type, "host": host, "attempts": attempt},
                    )
                    return DeliveryResult(
                        "delivered", event_id, attempts=attempt, http_status=resp.status_code
                    )
                code = f"http_{resp.status_code}"
                if resp.status_code not in RETRYABLE_STATUSES and resp.status_code < 500:
                    break  # the receiver refuses it: retrying now will not help
                retry_after = _retry_after(resp.headers.get("Retry-After"))
            if attempt < self.attempts:
                pause = BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]
                self.sleep(max(pause, retry_after or 0.0))
        logger.warning(
            "webhook delivery failed",
            extra={"tenant": tenant, "type": event_type, "host": host, "error": code},
        )
        raise WebhookDeliveryFailed(host, code, attempt)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER_SECONDS))
    except ValueError:
        return None


class LocalEventBridge:
    """An event listener that does what the bus and the webhook rule do in AWS: hands each
    published event, EventBridge-shaped, to `target` in a background thread (never blocking
    the publisher), retrying a failing target `retries` times like Lambda's async invocation."""

    def __init__(
        self,
        target: Callable[[dict[str, Any]], Any],
        *,
        retries: int = 2,
        retry_delay: float = 0.5,
        region: str = "us-east-1",
        account: str = "000000000000",
    ):
        self.target = target
        self.retries = max(0, retries)
        self.retry_delay = retry_delay
        self.region = region
        self.account = account
        self.failures: list[str] = []  # error types of events whose every try failed
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def envelope(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event["detail-type"],
            "source": event["source"],
            "account": self.account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region,
            "resources": [],
            "detail": event["detail"],
        }

    def __call__(self, event: dict[str, Any]) -> None:
        full = self.envelope(event)
        thread = threading.Thread(target=self._run, args=(full,), name="local-eventbridge", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, event: dict[str, Any]) -> None:
        try:
            for attempt in range(self.retries + 1):
                try:
                    self.target(event)
                    return
                except Exception as exc:
                    if attempt == self.retries:
                        with self._lock:
                            self.failures.append(type(exc).__name__)
                        logger.warning("local event target failed", extra={"error_type": type(exc).__name__})
                        return
                    time.sleep(self.retry_delay)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def drain(self, timeout: float = 30.0) -> bool:
        """Waits for every delivery in flight; True when none is left."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, end - time.monotonic()))
            if time.monotonic() >= end:
                with self._lock:
                    return not self._threads
