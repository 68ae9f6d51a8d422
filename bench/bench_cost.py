"""Benchmark: what the broker costs in AWS, in dollars, from counted calls.

    .venv/bin/python bench/bench_cost.py [--requests 200] [--sends 50] [--due 30] [--upstream-ms 100]

Drives each operation through the real handlers in-process (the gateway emulation `make dev` uses,
`lambda_runtime.invoke`, moto's DynamoDB/KMS/EventBridge/SQS, the fake Google through an httpx
WSGI transport) and counts, with botocore hooks on every client (nothing patched in the broker):

- DynamoDB request units, computed from item sizes by DynamoDB's rules (moto's
  `ConsumedCapacity` is a constant 0.5 or 1 whatever the size): a read is one RRU per 4 KB
  (strongly consistent; half for eventually consistent), a write one WRU per 1 KB of the larger
  of the item before and after, plus the writes to each global secondary index whose entry it
  adds, changes or removes (a changed index key costs two);
- KMS requests; EventBridge PutEvents entries (per 64 KB chunk); SQS requests (per 64 KB chunk),
  the event source mapping's receives and deletes included;
- Lambda invocations and their duration: each handler call's wall time on this machine, split
  into the broker's own work, time inside AWS calls (moto in-process, standing in for AWS's own
  latency) and time inside the upstream (the fake Google in-process, replaced by a modelled
  `--upstream-ms` per upstream request). At a function's memory M (template.yaml) the broker's own
  work is scaled by 1769/M (Lambda gives M/1769 of a vCPU below 1769 MB); waits are not.

and multiplies them by `bench/prices.yaml`. A script, not a test: durations depend on the machine.
The pure arithmetic (prices x counts, template memory) is tested in tests/unit/bench/.
"""

from __future__ import annotations

import argparse
import contextvars
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PRICES_PATH = ROOT / "bench" / "prices.yaml"
TEMPLATE_PATH = ROOT / "template.yaml"

FULL_VCPU_MB = 1769  # Lambda: one full vCPU at 1,769 MB, proportionally less below
GOAL_PROXY_PER_MILLION = 1.75
GOAL_IDLE_PER_1000_MONTHS = 0.50
MONTH_DAYS = 30


# ================================================================================================
# The arithmetic (pure: no AWS, no broker; tests/unit/bench/test_cost_model.py)
# ================================================================================================
@dataclass(frozen=True)
class Price:
    usd: float
    per: float
    unit: str
    source: str
    as_of: str

    @property
    def each(self) -> float:
        return self.usd / self.per


def load_prices(path: Path = PRICES_PATH) -> dict[str, Price]:
    data = yaml.safe_load(path.read_text())
    return {name: Price(**entry) for name, entry in data["prices"].items()}


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !If, ...) as null: the bench needs literals only."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def parse_template(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(text, Loader=_CfnLoader)
    return data


def function_memory(template: Mapping[str, Any]) -> dict[str, int]:
    """Each function's configured memory in MB (logical id -> MemorySize; the Globals' default
    where a function sets none; Lambda's own default, 128, where neither does)."""
    default = (template.get("Globals") or {}).get("Function", {}).get("MemorySize", 128)
    return {
        name: int(res.get("Properties", {}).get("MemorySize", default))
        for name, res in template["Resources"].items()
        if res.get("Type") == "AWS::Serverless::Function"
    }


def attribute_size(value: Mapping[str, Any]) -> int:
    """A DynamoDB attribute value's size in bytes (wire format: {"S": ...}, {"N": ...}, ...)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size by DynamoDB's rules: its attribute names plus their values."""
    return sum(len(name.encode()) + attribute_size(v) for name, v in (item or {}).items())


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RRUs of one read returning `size` bytes (a read of nothing still costs the minimum)."""
    units = math.ceil(max(size, 1) / 4096)
    return units * (2.0 if transactional else 1.0 if consistent else 0.5)


def write_units(size: int, *, transactional: bool = False) -> int:
    return math.ceil(max(size, 1) / 1024) * (2 if transactional else 1)


def chunks(size: int, chunk: int = 64 * 1024) -> int:
    """EventBridge and SQS bill each 64 KB chunk of a payload as one event or request."""
    return max(1, math.ceil(size / chunk))


def duration_ms(own_ms: float, wait_ms: float, memory_mb: int) -> float:
    """A Lambda invocation's billed duration at `memory_mb`: the broker's own work slowed by the CPU
    share below a full vCPU, plus what it waits on (not slowed), rounded up to Lambda's 1 ms."""
    return math.ceil(own_ms * max(1.0, FULL_VCPU_MB / memory_mb) + wait_ms)


def gb_seconds(billed_ms: float, memory_mb: int) -> float:
    return memory_mb / 1024 * billed_ms / 1000


def dollars(usage: Mapping[str, float], prices: Mapping[str, Price]) -> dict[str, float]:
    """Each meter's quantity times its price (KeyError for a meter with no price)."""
    return {meter: qty * prices[meter].each for meter, qty in usage.items() if qty}


def add(*usages: Mapping[str, float], scale: float = 1.0) -> dict[str, float]:
    total: dict[str, float] = {}
    for usage in usages:
        for meter, qty in usage.items():
            total[meter] = total.get(meter, 0.0) + qty * scale
    return total


def scaled(usage: Mapping[str, float], factor: float) -> dict[str, float]:
    return {meter: qty * factor for meter, qty in usage.items()}


def verdict(value: float, goal: float) -> str:
    return "PASS" if value <= goal else f"MISS (by ${value - goal:.2f}, {value / goal - 1:.0%})"


# ================================================================================================
# Measuring (the broker in-process)
# ================================================================================================
@dataclass
class Invocation:
    function: str  # logical id
    wall_ms: float = 0.0
    aws_ms: float = 0.0  # inside AWS calls (moto)
    upstream_ms: float = 0.0  # inside the fake Google
    upstream_calls: int = 0
    nested_ms: float = 0.0  # waiting on another function invoked synchronously
    parallelism: int = 1  # upstream requests in flight at once (the queue worker's batch)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def _overlap(self) -> float:
        """Waits in parallel threads overlap: scale them so that they fit in the wall time."""
        waits = self.aws_ms + self.upstream_ms + self.nested_ms
        return min(1.0, self.wall_ms / waits) if waits else 1.0

    @property
    def own_ms(self) -> float:
        return max(0.0, self.wall_ms - (self.aws_ms + self.upstream_ms + self.nested_ms) * self._overlap)

    def billed_ms(self, memory_mb: int, upstream_ms: float) -> float:
        """Own work scaled to the memory's CPU share, AWS and nested waits as measured, the
        upstream's measured time replaced by `upstream_ms` per request (`parallelism` at once)."""
        modelled = upstream_ms * math.ceil(self.upstream_calls / max(1, self.parallelism))
        waits = (self.aws_ms + self.nested_ms) * self._overlap
        return duration_ms(self.own_ms, waits + modelled, memory_mb)


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("bench_invocation", default=None)


@dataclass
class Meters:
    """What one measured operation used: AWS meters, calls by operation, Lambda invocations."""

    usage: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, meter: str, qty: float, call: str | None = None) -> None:
        with self.lock:
            self.usage[meter] += qty  # type: ignore[assignment]
            if call:
                self.calls[call] += 1

    def lambda_usage(self, memory: Mapping[str, int], upstream_ms: float) -> dict[str, float]:
        usage = {"lambda_request": float(len(self.invocations)), "lambda_gb_second": 0.0}
        for inv in self.invocations:
            mem = memory[inv.function]
            usage["lambda_gb_second"] += gb_seconds(inv.billed_ms(mem, upstream_ms), mem)
        return usage


class Metering:
    """botocore hooks on each client (before-parameter-build / after-call), an invoke wrapper and an
    upstream transport wrapper, all writing to the `Meters` of the operation being measured."""

    def __init__(
        self, peek: Any, indexes: Mapping[str, tuple[list[str], str, list[str]]], table_keys: list[str]
    ):
        self.meters = Meters()
        self.peek = peek  # a DynamoDB client with no hooks: reads the item before and after a write
        self.indexes = indexes  # name -> (key attributes, projection type, included attributes)
        self.table_keys = table_keys

    @contextmanager
    def measuring(self) -> Iterator[Meters]:
        self.meters = meters = Meters()
        try:
            yield meters
        finally:
            self.meters = Meters()  # what runs between measurements (seeding) goes nowhere

    # -- AWS calls ------------------------------------------------------------------------------
    def watch(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}.*", self._before)
        client.meta.events.register(f"after-call.{service}.*", self._after)

    def _before(self, params: Any = None, model: Any = None, context: Any = None, **_: Any) -> None:
        if context is None:
            return
        context["bench_started"] = time.perf_counter()
        context["bench_params"] = dict(params or {})
        if model.service_model.service_name == "dynamodb" and model.name in (
            "PutItem",
            "UpdateItem",
            "DeleteItem",
        ):
            context["bench_before"] = self._peek(params)

    def _peek(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        key = params.get("Key") or {k: params["Item"][k] for k in self.table_keys}
        item = self.peek.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _after(self, parsed: Any = None, model: Any = None, context: Any = None, **_: Any) -> None:
        if context is None or "bench_started" not in context:
            return
        elapsed = (time.perf_counter() - context["bench_started"]) * 1000
        inv = _current.get()
        if inv is not None:
            with inv.lock:
                inv.aws_ms += elapsed
        service, op = model.service_model.service_name, model.name
        params, parsed = context["bench_params"], parsed or {}
        call = f"{service}:{op}"
        m = self.meters
        if service == "dynamodb":
            self._dynamodb(op, params, parsed, context, call)
        elif service == "kms":
            m.note("kms_request", 1, call)
        elif service == "events":
            entries = params.get("Entries") or []
            size = sum(
                len(str(e.get("Detail", "")).encode())
                + len(e.get("DetailType", ""))
                + len(e.get("Source", ""))
                for e in entries
            )
            m.note("eventbridge_event", sum(chunks(size // max(1, len(entries))) for _ in entries), call)
        elif service == "sqs":
            if op == "GetQueueAttributes":
                return  # the local mapping's drain() asking what is left: Lambda's mapping does not
            if op == "SendMessageBatch":
                size = sum(len(e.get("MessageBody", "").encode()) for e in params.get("Entries") or [])
            elif op == "SendMessage":
                size = len(params.get("MessageBody", "").encode())
            elif op == "ReceiveMessage":
                size = sum(len(msg.get("Body", "").encode()) for msg in parsed.get("Messages") or [])
            else:
                size = 0
            m.note("sqs_request", chunks(size), call)
        else:
            m.note(f"{service}_request", 1, call)

    def _dynamodb(
        self, op: str, params: Mapping[str, Any], parsed: Mapping[str, Any], context: Any, call: str
    ) -> None:
        m = self.meters
        consistent = bool(params.get("ConsistentRead"))
        if op == "GetItem":
            m.note("dynamodb_rru", read_units(item_size(parsed.get("Item")), consistent=consistent), call)
        elif op in ("Query", "Scan"):
            size = sum(item_size(i) for i in parsed.get("Items") or [])
            m.note("dynamodb_rru", read_units(size, consistent=consistent), call)
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            before, after = context.get("bench_before"), self._peek(params)
            index_units = sum(self._index_writes(before, after))
            units = write_units(max(item_size(before), item_size(after))) + index_units
            m.note("dynamodb_wru", units, call)
            with m.lock:  # shown next to the calls: how much of the writing is index copies
                m.calls["dynamodb:WRU"] += units
                m.calls["dynamodb:WRU in indexes"] += index_units
        else:
            m.note("dynamodb_other", 1, call)

    def _index_writes(
        self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> Iterator[int]:
        """WRUs a write costs in each global secondary index (by the index entry's size)."""
        for keys, projection, included in self.indexes.values():
            old = self._entry(before, keys, projection, included)
            new = self._entry(after, keys, projection, included)
            if old is None and new is None:
                continue
            if old is None or new is None:
                yield write_units(item_size(old or new))
            elif any(old[k] != new[k] for k in keys):
                yield write_units(item_size(old)) + write_units(item_size(new))  # delete + put
            elif old != new:
                yield write_units(max(item_size(old), item_size(new)))

    def _entry(
        self, item: Mapping[str, Any] | None, keys: list[str], projection: str, included: list[str]
    ) -> dict[str, Any] | None:
        if not item or not all(k in item for k in keys):
            return None  # sparse: not in the index
        if projection == "ALL":
            return dict(item)
        names = [*self.table_keys, *keys, *(included if projection == "INCLUDE" else [])]
        return {k: item[k] for k in names if k in item}

    # -- Lambda invocations ---------------------------------------------------------------------
    def wrap_invoke(self, invoke: Callable[..., Any], functions: Callable[[str], str]) -> Callable[..., Any]:
        def timed(name: str, event: dict[str, Any], **kwargs: Any) -> Any:
            inv = Invocation(functions(name))
            if inv.function == "RefreshFunction" and event.get("Records"):
                from oauth_broker.tokens.queue_worker import CONCURRENCY

                inv.parallelism = min(CONCURRENCY, len(event["Records"]))
            parent = _current.get()
            token = _current.set(inv)
            started = time.perf_counter()
            try:
                return invoke(name, event, **kwargs)
            finally:
                inv.wall_ms = (time.perf_counter() - started) * 1000
                _current.reset(token)
                if parent is not None:
                    with parent.lock:
                        parent.nested_ms += inv.wall_ms
                with self.meters.lock:
                    self.meters.invocations.append(inv)

        return timed

    def gateway(self, app: Any) -> Any:
        """The HTTP API: each request through it is one billed request (all are under 512 KB)."""

        def counted(environ: Any, start_response: Any) -> Any:
            self.meters.note("apigw_http_request", 1, "apigw:request")
            return app(environ, start_response)

        return counted

    def upstream(self, inner: Any) -> Any:
        import httpx

        metering = self

        class Timed(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                started = time.perf_counter()
                try:
                    response: httpx.Response = inner.handle_request(request)
                    response.read()
                    return response
                finally:
                    inv = _current.get()
                    if inv is not None:
                        with inv.lock:
                            inv.upstream_ms += (time.perf_counter() - started) * 1000
                            inv.upstream_calls += 1
                    metering.meters.note("upstream_request", 0, f"upstream:{request.url.path}")

        return Timed()


# ================================================================================================
# The world: moto, the fake Google, the real handlers behind the gateway emulation
# ================================================================================================
def _env() -> None:
    for path in (ROOT / "layers" / "shared", ROOT / "dev", ROOT / "tests"):
        sys.path.insert(0, str(path))
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        BROKER_STATE_DIR=tempfile.mkdtemp(prefix="bench-cost-"),
    )
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("oauth-broker").setLevel(logging.ERROR)


@dataclass
class Bench:
    pw: Any  # brokertest.proxy.ProxyWorld
    metering: Metering
    mapping: Any  # the local event source mapping of the work queue
    memory: dict[str, int]
    upstream_ms: float

    @property
    def world(self) -> Any:
        return self.pw.world

    def measure(self, run: Callable[[], int]) -> tuple[Meters, int]:
        """Runs `run` with fresh meters: (what it used, what it returned)."""
        with self.metering.measuring() as meters:
            result = run()
        return meters, result

    def usage(self, meters: Meters, per: float) -> dict[str, float]:
        """Meters per operation (`per` operations measured), Lambda included, priced meters only."""
        lam = meters.lambda_usage(self.memory, self.upstream_ms)
        aws = {k: v for k, v in meters.usage.items() if k != "upstream_request"}
        return scaled(add(aws, lam), 1 / per)


@contextmanager
def bench_world(upstream_ms: float, world_config: Mapping[str, Any] | None = None) -> Iterator[Bench]:
    """The metered world; `world_config` overrides the broker's config (e.g. `allow_loopback_urls`
    for a webhook receiver on 127.0.0.1: bench_gmail_push.py)."""
    import boto3
    from moto import mock_aws
    from werkzeug.test import Client

    from brokertest.aws_calls import atomic_calls
    from brokertest.google import GOOGLE_BASE
    from brokertest.proxy import build_proxy_world
    from brokertest.world import Aws
    from oauth_broker.services import configure
    from oauth_broker_dev import lambda_runtime
    from oauth_broker_dev.aws_local import bootstrap

    template = parse_template(TEMPLATE_PATH.read_text())
    table = next(r for r in template["Resources"].values() if r.get("Type") == "AWS::DynamoDB::Table")
    props = table["Properties"]
    table_keys = [k["AttributeName"] for k in props["KeySchema"]]
    indexes = {
        gsi["IndexName"]: (
            [k["AttributeName"] for k in gsi["KeySchema"]],
            gsi["Projection"]["ProjectionType"],
            list(gsi["Projection"].get("NonKeyAttributes") or []),
        )
        for gsi in props.get("GlobalSecondaryIndexes") or []
    }
    original_invoke = lambda_runtime.invoke
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        dynamodb, kms, events = boto3.client("dynamodb"), boto3.client("kms"), boto3.client("events")
        resources = bootstrap(dynamodb, kms, events, table_name="bench", bus_name="bench")
        metering = Metering(boto3.client("dynamodb"), indexes, table_keys)
        for client in (dynamodb, kms, events):
            metering.watch(client)
        lambda_runtime.invoke = metering.wrap_invoke(original_invoke, lambda_runtime.logical_id)
        try:
            with atomic_calls(dynamodb):
                pw = build_proxy_world(
                    Aws(dynamodb, kms, events, resources), Path(tmp), world_config=dict(world_config or {})
                )
                pw.world.api.invoke = lambda_runtime.invoke
                pw.world.client = Client(metering.gateway(pw.world.api))
                pw.world.transport.mount(
                    GOOGLE_BASE, metering.upstream(pw.world.transport.routes[GOOGLE_BASE])
                )
                mapping = _work_queue(pw, metering)
                yield Bench(pw, metering, mapping, function_memory(template), upstream_ms)
        finally:
            lambda_runtime.invoke = original_invoke
            configure(None)


def _work_queue(pw: Any, metering: Metering) -> Any:
    """The work queue as template.yaml declares it, the functions' SQS client and the event source
    mapping's own (both watched: SQS bills the mapping's receives and deletes to the account)."""
    import boto3

    from oauth_broker_dev import lambda_runtime
    from oauth_broker_dev.aws_local import ensure_work_queue
    from oauth_broker_dev.sqs_poller import LocalEventSourceMapping

    sqs, poller = boto3.client("sqs"), boto3.client("sqs")
    metering.watch(sqs)
    metering.watch(poller)
    urls = ensure_work_queue(sqs)
    services = pw.world.services
    services.config = services.config.model_copy(update={"refresh_queue_url": urls.queue_url})
    services._sqs = sqs
    return LocalEventSourceMapping(
        poller,
        urls.queue_url,
        urls.queue_arn,
        lambda event: lambda_runtime.invoke("refresh", event),
        batch_size=10,
    )


# ================================================================================================
# The operations
# ================================================================================================
SCHEDULE_EVENT = {
    "version": "0",
    "id": "bench",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


def op_proxy(bench: Bench, requests: int) -> tuple[Meters, dict[str, float], int]:
    """Warm proxied requests (`users.getProfile` through the raw proxy), one token, authorizer
    cached; and the authorizer's own cost per invocation (a fresh token: a cache miss)."""
    pw = bench.pw
    rec = pw.connect(["gmail.readonly"])
    path = "gmail/v1/users/me/profile"
    for _ in range(5):  # warm: handler loaded, data key cached, last_used_at written this hour
        assert pw.proxy(rec, path).status_code == 200
    meters, ok = bench.measure(lambda: sum(pw.proxy(rec, path).status_code == 200 for _ in range(requests)))
    assert ok == requests, f"{requests - ok} proxied requests failed"
    auth, _ = bench.measure(lambda: _authorizer_misses(bench, 20))
    auth_usage = scaled(auth.lambda_usage(bench.memory, bench.upstream_ms), 1 / 20)
    return meters, auth_usage, requests


def _authorizer_misses(bench: Bench, count: int) -> int:
    from oauth_broker_dev import devidp

    for i in range(count):
        token = devidp.mint("acme", f"auth-bench-{i}")
        bench.world.request("GET", "/v1/connections", token=token)
    # only the authorizer's invocations: the api function's are not part of this figure
    bench.metering.meters.invocations[:] = [
        inv for inv in bench.metering.meters.invocations if inv.function == "AuthorizerFunction"
    ]
    return 0


def op_send(bench: Bench, sends: int) -> tuple[Meters, int]:
    pw = bench.pw
    rec = pw.connect(["gmail.send"], owner="sender")
    body = {"to": ["Bob <bob@example.com>"], "subject": "Hello", "text": "Hi Bob"}

    def send(i: int) -> bool:
        resp = pw.call(
            "POST",
            f"/v1/connections/{rec.id}/gmail/messages",
            user="sender",
            json_body=body,
            headers={"Idempotency-Key": f"bench-send-{i}-{time.time_ns()}"},
        )
        return bool(resp.status_code == 201)

    for i in range(3):
        assert send(i)
    meters, ok = bench.measure(lambda: sum(send(i) for i in range(sends)))
    assert ok == sends, f"{sends - ok} sends failed"
    return meters, sends


def op_refresh(bench: Bench, due: int) -> tuple[Meters, int, int]:
    """Background refreshes the way AWS runs them: the schedule enumerates and enqueues, the event
    source mapping hands batches of ten to the refresh function."""
    from oauth_broker_dev import lambda_runtime

    pw = bench.pw
    for i in range(due):
        pw.connect(["gmail.readonly"], owner=f"due{i}", expires_in=400)
    before = pw.fake.token_requests["refresh_token"]

    def run() -> int:
        report = lambda_runtime.invoke("refresh", SCHEDULE_EVENT)
        assert report["enqueued"] >= due, report
        bench.mapping.drain(timeout=120)
        return 0

    meters, _ = bench.measure(run)
    refreshed = pw.fake.token_requests["refresh_token"] - before
    return meters, refreshed, due


def op_connect(bench: Bench, flows: int) -> tuple[Meters, int]:
    from brokertest.connect import allow_return_origins, create_oauth_client, run_flow

    world, fake = bench.world, bench.pw.fake
    allow_return_origins(world)
    client = create_oauth_client(world)

    def flow(i: int) -> int:
        result = run_flow(world, fake, client["id"], user=f"flow{i}")
        assert result.response.status_code in (200, 303), result.response.get_data(as_text=True)[:300]
        return 0

    flow(flows)  # warm
    meters, _ = bench.measure(lambda: sum(flow(i) for i in range(flows)))
    return meters, flows


# ================================================================================================
# Connection-months: the refresh schedule over an injected clock (the real refresher and index)
# ================================================================================================
HOUR, DAY = 3600, 86400


@dataclass
class MonthCounts:
    label: str
    days_simulated: float
    background_refreshes: float = 0.0
    on_demand_refreshes: float = 0.0
    uses: float = 0.0
    use_writes: float = 0.0

    def per_month(self) -> MonthCounts:
        f = MONTH_DAYS / self.days_simulated
        return MonthCounts(
            self.label,
            MONTH_DAYS,
            self.background_refreshes * f,
            self.on_demand_refreshes * f,
            self.uses * f,
            self.use_writes * f,
        )


def schedule_source(config: Any) -> str:
    """Which refresh schedule this tree has: the one with liveness refreshes (store/schedule.py,
    `last_used_at`), or the hourly refresh of every connection."""
    hours = getattr(config, "active_within_hours", None)
    if hours is not None and (ROOT / "layers" / "shared" / "oauth_broker" / "store" / "schedule.py").exists():
        return f"refresh ahead for connections used in the last {hours} h, a daily liveness refresh otherwise"
    return "every connection refreshed ahead of each expiry (the hourly schedule)"


def simulate(
    bench: Bench, label: str, *, use_every: float | None, days: float, active_within_hours: int | None = None
) -> MonthCounts:
    """`simulate_schedule` with the deployment's schedule, or with `active_within_hours` (the
    ActiveWithinHours parameter) in its place."""
    connections = bench.pw.services.connections
    schedule = getattr(connections, "schedule", None)
    if active_within_hours is None or schedule is None:
        return simulate_schedule(bench, label, use_every=use_every, days=days)
    connections.schedule = replace(schedule, active_within=active_within_hours * HOUR)
    try:
        return simulate_schedule(bench, label, use_every=use_every, days=days)
    finally:
        connections.schedule = schedule


def simulate_schedule(bench: Bench, label: str, *, use_every: float | None, days: float) -> MonthCounts:
    """One connection over `days`: the sweep every `sweep_interval_seconds` (its own index Query,
    then `TokenRefresher.refresh_if_due`), and a proxied call's token every `use_every` seconds
    (read the item, `get_fresh_token`). Ticks that find nothing due are skipped, not run."""
    from brokertest.tokens import FakeClock
    from oauth_broker.store.connections import due_shard
    from oauth_broker.timeutil import rfc3339
    from oauth_broker.tokens.refresher import TokenRefresher

    services, fake = bench.pw.services, bench.pw.fake
    tick, ahead = services.config.sweep_interval_seconds, services.config.refresh_ahead_seconds
    clock = FakeClock(start=float(int(time.time()) // tick * tick))
    start = clock.time()
    rec = bench.pw.connect(["gmail.readonly"], owner=f"sim-{label}")
    changes: dict[str, Any] = {
        "created_at": rfc3339(start - 60 * DAY),
        "last_refreshed_at": rfc3339(start),
        "expires_at": int(start) + HOUR,
    }
    if hasattr(rec, "last_used_at"):
        changes["last_used_at"] = int(start - 40 * DAY) if use_every is None else int(start - 60)
    rec = services.connections.save(rec.model_copy(update=changes), expected_version=rec.version)
    refresher = TokenRefresher(services, clock=clock)
    table, key = services.connections.table, services.connections.key(rec.id)
    counts = MonthCounts(label, days)

    def token_requests() -> int:
        return int(fake.token_requests["refresh_token"])

    end, next_tick = start + days * DAY, start
    next_use = start if use_every else math.inf

    while True:
        item = table.get(*key)
        due_at = float(item["due_at"]) if item and "due_at" in item else math.inf
        earliest = max(next_tick, due_at - tick, clock.time())
        sweep_at = start + math.ceil((earliest - start) / tick) * tick if due_at < math.inf else math.inf
        moment = min(sweep_at, next_use)
        if moment > end:
            break
        clock.advance(moment - clock.time())
        before = token_requests()
        if moment == sweep_at:
            items, _ = table.query(
                "due_pk = :p AND due_at <= :t",
                {":p": due_shard(rec.id), ":t": int(moment) + tick},
                index="ByRefreshDue",
            )
            if any(i.get("pk") == f"CON#{rec.id}" for i in items):
                refresher.refresh_if_due(rec.id, horizon=ahead + tick, deadline=clock.monotonic() + 20)
            counts.background_refreshes += token_requests() - before
            next_tick = moment + tick
        else:
            used_before = getattr(services.connections.get(rec.id), "last_used_at", None)
            refresher.get_fresh_token(services.connections.get(rec.id), deadline=clock.monotonic() + 10)
            counts.on_demand_refreshes += token_requests() - before
            counts.uses += 1
            counts.use_writes += (
                getattr(services.connections.get(rec.id), "last_used_at", None) != used_before
            )
            next_use += use_every or 0
    return counts


# ================================================================================================
# The report
# ================================================================================================
def money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def breakdown(usage: Mapping[str, float], prices: Mapping[str, Price], scale: float) -> str:
    parts = dollars(usage, prices)
    return ", ".join(f"{k} {money(v * scale)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))


def calls_line(meters: Meters, per: float) -> str:
    return ", ".join(
        f"{op} {n / per:.2f}" for op, n in sorted(meters.calls.items()) if not op.startswith("apigw")
    )


def durations(meters: Meters, bench: Bench) -> str:
    by_fn: dict[str, list[Invocation]] = {}
    for inv in meters.invocations:
        by_fn.setdefault(inv.function, []).append(inv)
    out = []
    for fn, invs in sorted(by_fn.items()):
        n, mem = len(invs), bench.memory[fn]
        wall = sum(i.wall_ms for i in invs) / n
        own = sum(i.own_ms for i in invs) / n
        aws = sum(i.aws_ms for i in invs) / n
        billed = sum(i.billed_ms(mem, bench.upstream_ms) for i in invs) / n
        out.append(
            f"{fn} x{n}: wall {wall:.1f} ms (own {own:.1f}, AWS {aws:.1f}), "
            f"billed at {mem} MB {billed:.0f} ms"
        )
    return "; ".join(out)


def memory_table(
    meters: Meters,
    per: float,
    usage_wo_lambda: Mapping[str, float],
    prices: Mapping[str, Price],
    bench: Bench,
    fn: str,
) -> list[str]:
    rows = []
    for mem in (128, 256, 512, 1024, FULL_VCPU_MB):
        memory = {**bench.memory, fn: mem}
        lam = scaled(meters.lambda_usage(memory, bench.upstream_ms), 1 / per)
        total = sum(dollars(add(usage_wo_lambda, lam), prices).values()) * 1e6
        invs = [i for i in meters.invocations if i.function == fn]
        billed = sum(i.billed_ms(mem, bench.upstream_ms) for i in invs) / max(1, len(invs))
        rows.append(f"| {mem} | {billed:.0f} | {money(total)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="warm proxied requests measured")
    parser.add_argument("--sends", type=int, default=50, help="Gmail sends measured")
    parser.add_argument("--due", type=int, default=30, help="connections refreshed through the queue")
    parser.add_argument("--flows", type=int, default=10, help="connect flows measured")
    parser.add_argument("--upstream-ms", type=float, default=100.0, help="modelled upstream latency")
    parser.add_argument(
        "--requests-per-authorizer-call",
        type=float,
        default=10.0,
        help="proxied requests per authorizer invocation (API Gateway's cache)",
    )
    parser.add_argument(
        "--busy-days", type=float, default=3.0, help="days simulated for the every-minute connection"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts (a quick check that it runs)")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.sends, args.due, args.flows, args.busy_days = 20, 5, 10, 2, 0.25
    _env()
    prices = load_prices()
    print(
        f"# Cost model (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, prices {PRICES_PATH.name} "
        f"us-east-1, upstream latency modelled at {args.upstream_ms:.0f} ms per upstream request)"
    )
    with bench_world(args.upstream_ms) as bench:
        print(
            "\nMemory (template.yaml): " + ", ".join(f"{k} {v} MB" for k, v in sorted(bench.memory.items()))
        )
        proxy, auth_usage, n = op_proxy(bench, args.requests)
        first_write = _use_write_units(bench)
        send, n_send = op_send(bench, args.sends)
        refresh, refreshed, due = op_refresh(bench, args.due)
        connect, n_flows = op_connect(bench, args.flows)
        idle = simulate(bench, "idle", use_every=None, days=MONTH_DAYS)
        daily = simulate(bench, "daily", use_every=DAY, days=MONTH_DAYS)
        busy = simulate(bench, "minute", use_every=60, days=args.busy_days)
        daily_1h = simulate(
            bench, "daily, ActiveWithinHours=1", use_every=DAY, days=MONTH_DAYS, active_within_hours=1
        )
        storage_gb = _storage_gb(bench)
        empty_sweep = _empty_sweep(bench)

        ratio = 1 / args.requests_per_authorizer_call
        proxy_usage = add(bench.usage(proxy, n), scaled(auth_usage, ratio))
        send_usage = add(bench.usage(send, n_send), scaled(auth_usage, ratio))
        refresh_usage = bench.usage(refresh, max(1, refreshed))
        connect_usage = bench.usage(connect, n_flows)
        lam_keys = ("lambda_request", "lambda_gb_second")
        on_demand = add(
            {k: v for k, v in refresh_usage.items() if k not in (*lam_keys, "sqs_request")},
            {"lambda_gb_second": gb_seconds(args.upstream_ms, bench.memory["ProxyFunction"])},
        )

        def per_op(usage: Mapping[str, float]) -> float:
            return sum(dollars(usage, prices).values())

        def per_million(usage: Mapping[str, float]) -> float:
            return per_op(usage) * 1e6

        print("\n## Per operation\n")
        print("| operation | $ | per | calls per operation (from counted calls) |")
        print("|---|---:|---|---|")
        proxy_cost = per_million(proxy_usage)
        print(
            f"| warm proxied request, {args.upstream_ms:.0f} ms upstream | {money(proxy_cost)} | million | "
            f"{calls_line(proxy, n)}; authorizer 1 per {args.requests_per_authorizer_call:g} requests |"
        )
        print(
            f"| Gmail send with Idempotency-Key | {money(per_million(send_usage))} | million "
            f"| {calls_line(send, n_send)} |"
        )
        print(
            f"| background refresh (schedule, queue, refresh) | {money(per_million(refresh_usage))} "
            "| million | "
            f"{calls_line(refresh, max(1, refreshed))} |"
        )
        print(
            f"| connect flow (session, authorize, callback, confirm) | {money(per_op(connect_usage) * 1e3)} "
            "| 1,000 flows | "
            f"{calls_line(connect, n_flows)} |"
        )
        print("\nwhere the money goes:")
        print(f"- proxied request, per million: {breakdown(proxy_usage, prices, 1e6)}")
        print(f"- Gmail send, per million: {breakdown(send_usage, prices, 1e6)}")
        print(f"- refresh, per million: {breakdown(refresh_usage, prices, 1e6)}")
        print(f"- connect flow, per 1,000: {breakdown(connect_usage, prices, 1e3)}")
        print(
            "\nLambda durations (this machine, moto and the fake Google in-process; upstream replaced "
            "by the model):"
        )
        for label, meters in (("proxy", proxy), ("send", send), ("refresh", refresh), ("connect", connect)):
            print(f"- {label}: {durations(meters, bench)}")
        print(f"- authorizer (cache miss): {money(per_million(auth_usage))} per million invocations")
        print(f"\nrefreshed through the queue: {refreshed} of {due} due")

        print(f"\n## Connection-months ({schedule_source(bench.pw.services.config)})\n")
        storage = {"dynamodb_storage_gb_month": storage_gb}
        print(
            "| connection | refreshes/month (background + on demand) | uses/month | use writes/month "
            "| $ per 1,000 connection-months |"
        )
        print("|---|---:|---:|---:|---:|")
        results = {}
        for counts in (idle, daily, busy, daily_1h):
            m = counts.per_month()
            usage = add(
                scaled(refresh_usage, m.background_refreshes),
                scaled(on_demand, m.on_demand_refreshes),
                scaled(proxy_usage, m.uses),
                {"dynamodb_wru": first_write * m.use_writes},
                storage,
            )
            results[counts.label] = per_op(usage) * 1000
            note = (
                f" (simulated {counts.days_simulated:g} days)" if counts.days_simulated != MONTH_DAYS else ""
            )
            print(
                f"| {counts.label}{note} | {m.background_refreshes:.0f} + {m.on_demand_refreshes:.0f} "
                f"| {m.uses:.0f} "
                f"| {m.use_writes:.0f} | {money(results[counts.label])} |"
            )
        print(f"\nstorage: {storage_gb * 1e9:.0f} bytes per connection (item and index entries, +100 B each)")
        sweeps = MONTH_DAYS * DAY / bench.pw.services.config.sweep_interval_seconds
        polls = 5 * 3 * 60 * 24 * MONTH_DAYS  # assumed: 5 pollers long-polling 20 s on an empty queue
        fixed = per_op(scaled(empty_sweep, sweeps)) + polls * prices["sqs_request"].each
        print(
            f"fixed per deployment, whatever the connections: {money(fixed)} a month "
            f"({sweeps:.0f} empty sweeps, "
            f"~{polls:,} empty queue polls assumed)"
        )

        print(f"\n## Memory for the proxy (warm proxied request, {args.upstream_ms:.0f} ms upstream)\n")
        print("| MemorySize MB | billed ms | $ per million requests |")
        print("|---:|---:|---:|")
        wo_lambda = add(
            {k: v for k, v in bench.usage(proxy, n).items() if k not in lam_keys}, scaled(auth_usage, ratio)
        )
        for row in memory_table(proxy, n, wo_lambda, prices, bench, "ProxyFunction"):
            print(row)

        print("\n## Goals\n")
        print(
            f"- <= ${GOAL_PROXY_PER_MILLION} per million proxied requests at {args.upstream_ms:.0f} ms "
            "upstream: "
            f"{money(proxy_cost)}: {verdict(proxy_cost, GOAL_PROXY_PER_MILLION)}"
        )
        print(
            f"- <= ${GOAL_IDLE_PER_1000_MONTHS} per 1,000 idle connection-months: {money(results['idle'])}: "
            f"{verdict(results['idle'], GOAL_IDLE_PER_1000_MONTHS)}"
        )
        print(
            "\nnot counted (not measured here; rough list-price estimates): CloudWatch Logs ingestion at "
            "$0.50/GB (Lambda's START/END/REPORT lines alone are ~0.3 KB per invocation: ~$0.15 per "
            "million invocations), X-Ray traces (Tracing: Active; $5 per million traces recorded, the "
            "default rule samples 1 request/s + 5%: up to ~$0.25 per million requests), the KMS key's "
            "$1 a month, data transfer out"
        )
        print(
            f"\nassumed: API Gateway's authorizer cache answers all but 1 in "
            f"{args.requests_per_authorizer_call:g} requests (a caller's token makes "
            f"{args.requests_per_authorizer_call:g} requests within the cache TTL; "
            "--requests-per-authorizer-call); Lambda gives M/1769 of a vCPU at M MB; this machine's "
            "core stands in for one Lambda vCPU; moto's time inside each AWS call stands in for AWS's "
            "latency"
        )


def _use_write_units(bench: Bench) -> float:
    """WRUs of one `last_used_at` write (a connection's first use in the hour)."""
    rec = bench.pw.connect(["gmail.readonly"], owner="first-use")
    meters, _ = bench.measure(lambda: bench.pw.proxy(rec, "gmail/v1/users/me/profile").status_code)
    return float(meters.usage.get("dynamodb_wru", 0.0))


def _storage_gb(bench: Bench) -> float:
    """A connection's stored bytes: the item, and its entry in each index it is in (+100 B each)."""
    rec = bench.pw.connect(["gmail.readonly"], owner="storage")
    m = bench.metering
    pk, sk = bench.pw.services.connections.key(rec.id)
    item = m.peek.get_item(
        TableName=bench.pw.services.config.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}
    )["Item"]
    total = item_size(item) + 100
    for keys, projection, included in m.indexes.values():
        entry = m._entry(item, keys, projection, included)
        if entry is not None:
            total += item_size(entry) + 100
    return total / 1e9


def _empty_sweep(bench: Bench) -> dict[str, float]:
    """One scheduled sweep that finds nothing due (the Query per shard, the invocation)."""
    from oauth_broker_dev import lambda_runtime

    meters, _ = bench.measure(lambda: lambda_runtime.invoke("refresh", SCHEDULE_EVENT) and 0)
    return bench.usage(meters, 1)


if __name__ == "__main__":
    main()
