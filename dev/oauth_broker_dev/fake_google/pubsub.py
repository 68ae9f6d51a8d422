"""A fake Cloud Pub/Sub, enough for Gmail push (https://cloud.google.com/pubsub/docs/push):

- topics (`projects/P/topics/T`) with the members allowed to publish on them (Gmail publishes as
  `gmail-api-push@system.gserviceaccount.com`);
- push subscriptions (`projects/P/subscriptions/S`): each message published on the topic is POSTed
  to the push endpoint as `{"message": {"data", "messageId", "message_id", "publishTime",
  "publish_time", "attributes"}, "subscription"}` with `Authorization: Bearer <OIDC token>`, the
  token RS256-signed with the fake's current ID-token key (so `{base}/jwks` verifies it), `iss` the
  fake's issuer, `aud` the subscription's audience, `email` its service account;
- asynchronous, as Pub/Sub is: one background worker thread delivers, in publish order, and retries
  a non-2xx answer (or an unreachable endpoint) a bounded number of times with a short backoff.
  `drain(timeout)` waits for it; `pause()` / `resume(order="reverse")` deliver out of order;
  `redeliver(message_id)` pushes a recorded message again as is; `close()` stops the worker.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .fake import FakeGoogle

GMAIL_PUBLISHER = "gmail-api-push@system.gserviceaccount.com"
TOPIC_NAME = re.compile(r"^projects/[^/]+/topics/[^/]+$")
SUBSCRIPTION_NAME = re.compile(r"^projects/[^/]+/subscriptions/[^/]+$")
PUSH_TOKEN_LIFETIME = 3600
DELIVERY_TIMEOUT = 10.0


class PubSubError(Exception):
    """A request Pub/Sub refuses: `status` and Google's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def service_account_id(email: str) -> str:
    """A stable 21-digit numeric id for a service account (`sub` and `azp` of its tokens)."""
    return "1" + str(int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:8], "big")).zfill(20)


def rfc3339(seconds: float) -> str:
    """Pub/Sub's publishTime: UTC, with fractional seconds and a `Z`."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Topic:
    name: str
    publishers: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "publishers": sorted(self.publishers)}


@dataclass
class Subscription:
    name: str
    topic: str
    push_endpoint: str
    audience: str
    service_account_email: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PublishedMessage:
    message_id: str
    topic: str
    data: bytes
    publish_time: float
    attributes: dict[str, str]

    def push_body(self, subscription: str) -> dict[str, Any]:
        published = rfc3339(self.publish_time)
        return {
            "message": {
                "attributes": dict(self.attributes),
                "data": base64.b64encode(self.data).decode("ascii"),
                "messageId": self.message_id,
                "message_id": self.message_id,
                "publishTime": published,
                "publish_time": published,
            },
            "subscription": subscription,
        }


@dataclass
class PushDelivery:
    """One push attempt: when it was sent and answered (epoch s), the endpoint's status (None:
    not reached, see `error`) and a bit of its body."""

    subscription: str
    endpoint: str
    message_id: str
    attempt: int
    redelivery: bool = False
    status: int | None = None
    error: str | None = None
    body: str = ""
    sent_at: float = 0.0
    answered_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Push:
    subscription: str
    message_id: str
    attempt: int = 1
    redelivery: bool = False


class PubSub:
    """The fake's Pub/Sub: `fake.pubsub`. `client` (an httpx client) replaces the network, as
    `fake.risc.client` does (tests mount the broker on it); None: a new client per push that does
    not read proxy settings from the environment."""

    def __init__(self, fake: FakeGoogle, *, max_attempts: int = 5, backoff: float = 0.05) -> None:
        self.fake = fake
        self.client: httpx.Client | None = None
        self.max_attempts = max_attempts
        self.backoff = backoff  # seconds before the first retry, doubled for each next one
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: dict[str, PublishedMessage] = {}
        self._deliveries: list[PushDelivery] = []
        self._queue: list[tuple[float, int, _Push]] = []  # heap of (due, order, push)
        self._order = itertools.count()
        self._in_flight = 0
        self._paused = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()

    # ---- topics and subscriptions ----------------------------------------------------------
    def create_topic(self, name: str, publishers: tuple[str, ...] | list[str] = (GMAIL_PUBLISHER,)) -> Topic:
        """A topic; `publishers` hold the Pub/Sub Publisher role on it (default: Gmail's push
        service account). Creating an existing topic again replaces its publishers."""
        if not TOPIC_NAME.match(name):
            raise PubSubError(400, f"Invalid [topics] name: ({name})")
        with self._cond:
            topic = Topic(name, set(publishers))
            self.topics[name] = topic
            return topic

    def grant_publisher(self, topic: str, member: str) -> Topic:
        with self._cond:
            found = self._topic(topic)
            found.publishers.add(member)
            return found

    def revoke_publisher(self, topic: str, member: str) -> Topic:
        with self._cond:
            found = self._topic(topic)
            found.publishers.discard(member)
            return found

    def delete_topic(self, name: str) -> None:
        with self._cond:
            self._topic(name)
            del self.topics[name]

    def _topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise PubSubError(404, f"Resource not found (resource={name.rsplit('/', 1)[-1]}).")
        return topic

    def can_publish(self, topic: str, member: str) -> bool:
        with self._cond:
            found = self.topics.get(topic)
            return found is not None and member in found.publishers

    def create_subscription(
        self,
        name: str,
        topic: str,
        push_endpoint: str,
        *,
        audience: str | None = None,
        service_account_email: str | None = None,
    ) -> Subscription:
        """A push subscription with authentication: `audience` defaults to the endpoint (as the
        console does), the service account to `pubsub-push@<project>.iam.gserviceaccount.com`."""
        if not SUBSCRIPTION_NAME.match(name):
            raise PubSubError(400, f"Invalid [subscriptions] name: ({name})")
        if not push_endpoint.startswith(("http://", "https://")):
            raise PubSubError(400, f"Invalid push endpoint given (endpoint={push_endpoint}).")
        project = name.split("/")[1]
        with self._cond:
            self._topic(topic)
            subscription = Subscription(
                name,
                topic,
                push_endpoint,
                audience or push_endpoint,
                service_account_email or f"pubsub-push@{project}.iam.gserviceaccount.com",
            )
            self.subscriptions[name] = subscription
            return subscription

    def delete_subscription(self, name: str) -> None:
        with self._cond:
            self.subscriptions.pop(name, None)

    # ---- publishing ------------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        data: bytes | dict[str, Any],
        attributes: dict[str, str] | None = None,
        *,
        publisher: str | None = None,
    ) -> PublishedMessage:
        """Publish one message: each push subscription of the topic gets it (asynchronously).
        With `publisher`, it must hold the Publisher role (403 otherwise)."""
        payload = json.dumps(data).encode() if isinstance(data, dict) else data
        with self._cond:
            found = self._topic(topic)
            if publisher is not None and publisher not in found.publishers:
                raise PubSubError(403, "User not authorized to perform this action.")
            message = PublishedMessage(
                message_id=str(secrets.randbelow(9 * 10**15) + 10**15),
                topic=topic,
                data=payload,
                publish_time=self.fake.now(),
                attributes=dict(attributes or {}),
            )
            self.messages[message.message_id] = message
            for subscription in self.subscriptions.values():
                if subscription.topic == topic:
                    self._enqueue(_Push(subscription.name, message.message_id))
            return message

    def redeliver(self, message_id: str, subscription: str | None = None) -> int:
        """Push a published message again, as is (same messageId, data and publishTime), as Pub/Sub
        does when it redelivers: to `subscription`, or to every subscription of its topic.
        Returns the pushes queued."""
        with self._cond:
            message = self.messages.get(message_id)
            if message is None:
                raise PubSubError(404, f"unknown message {message_id}")
            names = [
                s.name
                for s in self.subscriptions.values()
                if s.topic == message.topic and subscription in (None, s.name)
            ]
            for name in names:
                self._enqueue(_Push(name, message_id, redelivery=True))
            return len(names)

    def _enqueue(self, push: _Push, delay: float = 0.0) -> None:
        # under self._cond
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), push))
        if self._thread is None or not self._thread.is_alive():
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="fake-google-pubsub", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    # ---- ordering controls -----------------------------------------------------------------
    def pause(self) -> None:
        """Hold every push (published or retried) until `resume`."""
        with self._cond:
            self._paused = True

    def resume(self, order: str = "published") -> int:
        """Deliver the held pushes: in the order they were queued, or `reverse` (newest first:
        out of order, as Pub/Sub may deliver). Returns how many were held."""
        if order not in {"published", "reverse"}:
            raise PubSubError(400, "order must be published or reverse")
        with self._cond:
            held = [push for _, _, push in sorted(self._queue)]
            if order == "reverse":
                held.reverse()
            now = time.monotonic()
            self._queue = [(now, next(self._order), push) for push in held]
            heapq.heapify(self._queue)
            self._paused = False
            self._cond.notify_all()
            return len(held)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued push (retries included) is delivered or given up: True, or
        False after `timeout` seconds (e.g. while paused)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (pushes still queued are dropped) and wait for it. A later publish
        starts a new one."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # ---- deliveries ------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[PushDelivery]:
        with self._cond:
            return list(self._deliveries)

    def clear_deliveries(self) -> None:
        with self._cond:
            self._deliveries.clear()

    def reset(self) -> None:
        """Forget published messages, queued pushes and deliveries (a push in flight finishes);
        topics and subscriptions stay."""
        with self._cond:
            self._queue.clear()
            self.messages.clear()
            self._deliveries.clear()
            self._paused = False
            self._cond.notify_all()

    def push_token(self, subscription: Subscription) -> str:
        """The OIDC token Pub/Sub sends with a push, as Google's: signed with the fake's current
        ID-token key."""
        now = int(self.fake.now())
        sa_id = service_account_id(subscription.service_account_email)
        claims = {
            "aud": subscription.audience,
            "azp": sa_id,
            "email": subscription.service_account_email,
            "email_verified": True,
            "exp": now + PUSH_TOKEN_LIFETIME,
            "iat": now,
            "iss": self.fake.issuer,
            "sub": sa_id,
        }
        with self.fake._lock:
            return self.fake.keys.sign(claims)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed or self._thread is not threading.current_thread():
                        return
                    if self._queue and not self._paused:
                        wait = self._queue[0][0] - time.monotonic()
                        if wait <= 0:
                            push = heapq.heappop(self._queue)[2]
                            self._in_flight += 1
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            delivery: PushDelivery | None = None
            try:
                delivery = self._deliver(push)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    failed = delivery is not None and not delivery.ok
                    if failed and push.attempt < self.max_attempts and not self._closed:
                        retry = _Push(push.subscription, push.message_id, push.attempt + 1, push.redelivery)
                        delay = self.backoff * 2 ** (push.attempt - 1)
                        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), retry))
                    self._cond.notify_all()

    def _deliver(self, push: _Push) -> PushDelivery | None:
        with self._cond:
            subscription = self.subscriptions.get(push.subscription)
            message = self.messages.get(push.message_id)
        if subscription is None or message is None:
            return None  # deleted meanwhile
        delivery = PushDelivery(
            subscription.name, subscription.push_endpoint, message.message_id, push.attempt, push.redelivery
        )
        headers = {
            "Authorization": f"Bearer {self.push_token(subscription)}",
            "Content-Type": "application/json",
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        }
        body = json.dumps(message.push_body(subscription.name)).encode()
        delivery.sent_at = time.time()
        try:
            if self.client is not None:
                response = self.client.post(subscription.push_endpoint, content=body, headers=headers)
            else:
                with httpx.Client(trust_env=False, timeout=DELIVERY_TIMEOUT) as http:
                    response = http.post(subscription.push_endpoint, content=body, headers=headers)
            delivery.status = response.status_code
            delivery.body = response.text[:2000]
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # an in-process receiver that raises: record it, keep the worker
            delivery.error = f"{type(exc).__name__}: {exc}"
        delivery.answered_at = time.time()
        with self._cond:
            self._deliveries.append(delivery)
        return delivery
