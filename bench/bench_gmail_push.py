"""Benchmark: Gmail push, from a new message in the mailbox to the tenant's signed webhook delivery.

    .venv/bin/python bench/bench_gmail_push.py [--messages 100] [--notifications 30] [--smoke]

1. Latency, through the local runtime as `make dev` runs it: `oauth-broker dev` as a subprocess on
   a free 127.0.0.1 port (its fake Google's Pub/Sub topic has a push subscription to the broker's
   `POST /v1/google/gmail-push`), started and stopped here. Over HTTP: a tenant with a google-mail
   client, a connection of Alice's mailbox with gmail.readonly (a whole connect flow), the tenant's
   `gmail_push` settings from the dev server (`/demo/gmail-push-settings`, the fake's topic and
   subscription), its webhook pointed at a receiver in this process on 127.0.0.1 (which verifies
   each delivery's HMAC signature as docs/webhooks.md says), and the mailbox watched. Then
   `--messages` messages, one at a time: the clock starts just before the fake's control route
   `POST /fake-google/_control/gmail/deliver` (`deliver_message`: the message is stored, Gmail's
   notification published on the topic, the fake's Pub/Sub worker pushes it to the broker) and
   stops when the receiver has verified the `gmail.messages_added` delivery naming that message.
   A few warm-up messages (functions loaded, keys cached) are not counted. Prints p50, p90, p99 and
   max, and the part of it the push request itself took (the fake's record of each push). Exits 1
   when a message is never announced, announced twice, or a delivery's signature is wrong.

2. AWS calls and cost per notification, in bench_cost.py's terms and with its meters: the real
   handlers in-process (moto, the fake Google through an httpx transport, upstream time replaced by
   `--upstream-ms` per request), each notification's push through the gateway (`gmail_push`: token
   verified, watches looked up, `history.list`, the compare-and-set, the event put on the bus) and
   the event's webhook delivery (EventBridge's rule -> the `webhook` function), priced with
   bench/prices.yaml. Google's Pub/Sub price for the notification (publish + push) is printed
   apart: it is Google's bill (the tenant's Google Cloud project), not AWS's.

A script, not a test: figures depend on the machine and its load. All traffic goes to 127.0.0.1 or
stays in-process, bounded in count and time (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT / "dev"), str(ROOT / "tests")]

import httpx  # noqa: E402
from bench_load import ALICE, bearer, connect_flow, expect, local_broker, new_tenant  # noqa: E402

DELIVER = "/fake-google/_control/gmail/deliver"
ANNOUNCE_TIMEOUT = 30.0
WARMUP = 3
# Google Cloud Pub/Sub, https://cloud.google.com/pubsub/pricing (searched 2026-12-06): throughput
# (publish requests and push deliveries) $40 per TiB after the first 10 GiB a month, each publish or
# push request billed at least 1000 bytes. One Gmail notification is one publish (by Gmail, on the
# tenant's topic) and one push (to the broker): 2 x 1000 bytes, billed to the tenant's project.
PUBSUB_USD_PER_TIB = 40.0
PUBSUB_MIN_BYTES = 1000
PUBSUB_REQUESTS_PER_NOTIFICATION = 2


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank: the smallest value at least q % of them are <= to."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def pubsub_usd_per_notification() -> float:
    return PUBSUB_REQUESTS_PER_NOTIFICATION * PUBSUB_MIN_BYTES * PUBSUB_USD_PER_TIB / 2**40


# ================================================================================================
# 1. Latency through the local runtime
# ================================================================================================
class Receiver:
    """The tenant's webhook endpoint, on 127.0.0.1: verifies each delivery's signature (the
    docs' snippet, as the demo's receiver uses it) and notes when each announced message id arrived."""

    def __init__(self) -> None:
        from oauth_broker_dev.demo_webhook import verify_signature

        self.secret = secrets.token_urlsafe(32)
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.bad_signatures = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.perf_counter()
                if not verify_signature(
                    receiver.secret, self.headers.get("X-OAuth-Broker-Signature", ""), body
                ):
                    with receiver.cond:
                        receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                with receiver.cond:
                    if event.get("type") == "gmail.messages_added":
                        for message in event.get("messages") or []:
                            receiver.arrivals[str(message["id"])].append(arrived)
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/oauth-broker"

    def wait(self, message_id: str, timeout: float) -> float | None:
        """When the first delivery announcing `message_id` arrived (perf_counter), or None."""
        with self.cond:
            self.cond.wait_for(lambda: message_id in self.arrivals, timeout)
            times = self.arrivals.get(message_id)
            return times[0] if times else None

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def latency(messages: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-gmail-push-") as tmp:
        os.environ["BROKER_STATE_DIR"] = tmp  # devidp.mint here signs with the server's key
        return _latency(Path(tmp), messages)


def _latency(state: Path, messages: int) -> int:
    failures: list[str] = []
    with (
        local_broker(state) as (base_url, _log, _pid),
        Receiver() as receiver,
        httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http,
    ):
        tenant = f"push-{secrets.token_hex(3)}"
        client_id, _ = new_tenant(http, tenant)
        admin = bearer(tenant, f"admin@{tenant}", admin=True)
        user = bearer(tenant, f"u@{tenant}")
        conn = connect_flow(http, client_id, user, ALICE, ["gmail.readonly"])
        settings = expect(http.get("/demo/gmail-push-settings"), 200)["gmail_push"]
        expect(
            http.patch(
                "/v1/settings",
                headers=admin,
                json={"gmail_push": settings, "webhook_url": receiver.url, "webhook_secret": receiver.secret},
            ),
            200,
        )
        expect(http.put(f"/v1/connections/{conn['id']}/gmail/watch", headers=user, json={}), 200)
        pushes_before = len(expect(http.get("/fake-google/_control/pubsub/deliveries"), 200)["deliveries"])

        samples: list[float] = []
        started = time.monotonic()
        for i in range(WARMUP + messages):
            t0 = time.perf_counter()
            sent = expect(
                http.post(
                    DELIVER,
                    json={
                        "email": ALICE,
                        "from": "Bench <bench@example.net>",
                        "subject": f"bench {i}",
                        "text": "x",
                    },
                ),
                200,
            )
            t1 = receiver.wait(str(sent["id"]), ANNOUNCE_TIMEOUT)
            if t1 is None:
                failures.append(f"message {sent['id']} not announced within {ANNOUNCE_TIMEOUT:.0f} s")
            elif i >= WARMUP:
                samples.append((t1 - t0) * 1000)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # a duplicate delivery would have arrived by now
        with receiver.cond:
            twice = {m: len(t) for m, t in receiver.arrivals.items() if len(t) > 1}
            bad = receiver.bad_signatures
        if twice:
            failures.append(f"announced more than once: {twice}")
        if bad:
            failures.append(f"{bad} deliveries with a wrong signature")
        pushes = expect(http.get("/fake-google/_control/pubsub/deliveries"), 200)["deliveries"][
            pushes_before:
        ]

    print(
        f"\n## Push to webhook latency ({len(samples)} messages one at a time, "
        f"{WARMUP} warm-up not counted)\n"
    )
    if samples:
        print("| p50 | p90 | p99 | max | mean |")
        print("|---:|---:|---:|---:|---:|")
        print(
            f"| {percentile(samples, 50):.0f} ms | {percentile(samples, 90):.0f} ms | "
            f"{percentile(samples, 99):.0f} ms | {max(samples):.0f} ms | {statistics.fmean(samples):.0f} ms |"
        )
    answered = [
        (p["answered_at"] - p["sent_at"]) * 1000
        for p in pushes[WARMUP:]
        if p["status"] == 204 and p["answered_at"]
    ]
    if answered:
        print(
            f"\nof which the push request (the fake's POST to /v1/google/gmail-push until its 204: token "
            f"verified, watch found, history.list, compare-and-set, event put on the bus): p50 "
            f"{percentile(answered, 50):.0f} ms, p99 {percentile(answered, 99):.0f} ms; the rest is the "
            "fake's publish and push hand-off and the webhook delivery (EventBridge rule -> webhook function)"
        )
    statuses = sorted({p["status"] for p in pushes})
    print(f"\npushes answered: {len(pushes)} ({', '.join(map(str, statuses))}); {elapsed:.1f} s for the run")
    if samples:
        slow = [(i + 1, round(ms)) for i, ms in enumerate(samples) if ms > 5 * percentile(samples, 50)]
        print(f"slower than 5x p50 (message number, ms): {slow or 'none'}")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


# ================================================================================================
# 2. AWS calls and cost per notification (bench_cost.py's meters and prices)
# ================================================================================================
@contextmanager
def push_world(upstream_ms: float) -> Iterator[tuple[Any, Any, Any, Any]]:
    """bench_cost's metered world with the fake's Pub/Sub pushing through the metered gateway, the
    tenant `acme` configured for Gmail push and a webhook receiver on 127.0.0.1 fed by the local
    EventBridge rule: (bench, push world, webhook receiver, bridge)."""
    from bench_cost import bench_world

    from brokertest.gmail_push import AUDIENCE, PUSH_URL, SERVICE_ACCOUNT, SUBSCRIPTION, TOPIC, PushWorld
    from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
    from brokertest.world import BROKER_BASE

    with bench_world(upstream_ms, world_config={"allow_loopback_urls": True}) as bench:
        pw, world = bench.pw, bench.pw.world
        world.transport.mount(BROKER_BASE, httpx.WSGITransport(app=bench.metering.gateway(world.api)))
        pw.fake.pubsub.client = httpx.Client(transport=world.transport, base_url=BROKER_BASE)
        pw.fake.pubsub.create_topic(TOPIC)
        pw.fake.pubsub.create_subscription(
            SUBSCRIPTION, TOPIC, PUSH_URL, audience=AUDIENCE, service_account_email=SERVICE_ACCOUNT
        )
        gp = PushWorld(pw)
        gp.configure()
        receiver = WebhookReceiver().start()
        world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
        configure_webhook(world, receiver.url, secrets.token_urlsafe(24))
        bridge = attach_webhook_delivery(world)
        try:
            yield bench, gp, receiver, bridge
        finally:
            pw.fake.pubsub.close()
            receiver.stop()


@contextmanager
def calls_by_function(bench: Any) -> Iterator[dict[str, Counter[str]]]:
    """The AWS calls made while the block runs, by the function making them (the local runtime's
    `current_function`), from an after-call hook on the services' clients."""
    from oauth_broker_dev import lambda_runtime

    found: dict[str, Counter[str]] = defaultdict(Counter)
    lock = threading.Lock()
    on = [True]

    def hook(model: Any = None, **_: Any) -> None:
        if on[0] and model is not None:
            fn = lambda_runtime.current_function.get() or "(outside a function)"
            with lock:
                found[fn][f"{model.service_model.service_name}:{model.name}"] += 1

    services = bench.pw.services
    clients = (services.dynamodb, services.kms, services.events)
    for client in clients:
        client.meta.events.register("after-call", hook)
    try:
        yield found
    finally:
        on[0] = False
        for client in clients:
            client.meta.events.unregister("after-call", hook)


def cost(notifications: int, upstream_ms: float) -> int:
    import logging

    from bench_cost import _env, load_prices

    _env()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the receiver's request log
    prices = load_prices()
    with tempfile.TemporaryDirectory(prefix="bench-gmail-push-") as tmp:
        # the functions' EMF metrics go to a file, as in `make dev`
        os.environ["BROKER_METRICS_FILE"] = str(Path(tmp) / "emf.jsonl")
        try:
            return _cost(notifications, upstream_ms, prices)
        finally:
            del os.environ["BROKER_METRICS_FILE"]


def _cost(notifications: int, upstream_ms: float, prices: Any) -> int:
    from bench_cost import breakdown, calls_line, dollars, durations, money

    with push_world(upstream_ms) as (bench, gp, receiver, bridge):
        gp.watched()

        def notify(i: int) -> int:
            gp.deliver_mail(subject=f"bench {i}")  # drains the fake's pushes
            assert bridge.drain(10), "the webhook deliveries did not finish"
            return 0

        for i in range(WARMUP):
            notify(i)
        with calls_by_function(bench) as by_function:
            meters, _ = bench.measure(lambda: sum(notify(i) for i in range(notifications)))
        delivered = [d for d in receiver.deliveries if json.loads(d.body)["type"] == "gmail.messages_added"]
        usage = bench.usage(meters, notifications)
        aws = sum(dollars(usage, prices).values())
        pubsub = pubsub_usd_per_notification()
        print(
            f"\n## AWS calls and cost per notification ({notifications} notifications, upstream "
            f"history.list modelled at {upstream_ms:.0f} ms, prices {Path('bench/prices.yaml')} us-east-1)\n"
        )
        print("| per notification | calls (from counted calls) | $ per million notifications |")
        print("|---|---|---:|")
        print(f"| push + webhook delivery (AWS) | {calls_line(meters, notifications)} | {money(aws * 1e6)} |")
        print(
            "| Pub/Sub publish + push (Google, the tenant's project) | "
            f"{PUBSUB_REQUESTS_PER_NOTIFICATION} requests x {PUBSUB_MIN_BYTES} bytes "
            f"at ${PUBSUB_USD_PER_TIB:.0f}/TiB | {money(pubsub * 1e6)} |"
        )
        print(
            "\nAWS calls per notification, by function: "
            + "; ".join(
                f"{fn}: " + ", ".join(f"{call} {n / notifications:.2f}" for call, n in sorted(calls.items()))
                for fn, calls in sorted(by_function.items())
            )
        )
        print(f"where the AWS money goes, per million: {breakdown(usage, prices, 1e6)}")
        print(f"Lambda durations (this machine): {durations(meters, bench)}")
        print(
            f"Lambda invocations per notification: {usage.get('lambda_request', 0):.2f}, "
            f"GB-s per notification: {usage.get('lambda_gb_second', 0):.5f}; "
            f"API Gateway requests: {usage.get('apigw_http_request', 0):.2f}"
        )
        print(
            "Pub/Sub is Google's bill, not AWS's: https://cloud.google.com/pubsub/pricing (first 10 GiB a "
            "month free; each publish or push request billed at least 1000 bytes)"
        )
        expected = WARMUP + notifications
        if len(delivered) != expected:
            print(
                f"FAIL: {len(delivered)} webhook deliveries of gmail.messages_added for {expected} messages"
            )
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100, help="messages timed through the local runtime")
    parser.add_argument("--notifications", type=int, default=30, help="notifications metered in-process")
    parser.add_argument("--upstream-ms", type=float, default=100.0, help="modelled history.list latency")
    parser.add_argument("--smoke", action="store_true", help="tiny counts (a quick check that it runs)")
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.notifications = 10, 5
    print(f"# Gmail push (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    code = latency(args.messages)
    return cost(args.notifications, args.upstream_ms) or code


if __name__ == "__main__":
    sys.exit(main())
