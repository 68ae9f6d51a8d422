"""Benchmark: how the refresh queue's consumers scale, and what that projects to on Lambda.

    .venv/bin/python bench/bench_scaling.py [--due 400] [--workers 1,2,4,8] [--latency 0.15] [--smoke]

Three processes, all on 127.0.0.1 and stopped at the end: moto's server (DynamoDB, KMS,
EventBridge, SQS), the fake Google whose token endpoint answers every refresh after `--latency`
seconds (its `fail_next` control with only a delay), and this process: the broker.

For each worker count W it seeds `--due` connections due for a refresh, runs the real sweep (which
only enqueues one `refresh` job per due connection on the SQS work queue), then starts W worker
instances and times them until every job is done. A worker instance is what one Lambda instance of
the refresh function does: receive a batch of RefreshQueueBatchSize messages, invoke the real
handler (functions/refresh/app.py, its Powertools decorators included) with that SQS event, delete
the records it did not report failed, and poll again (dev's LocalEventSourceMapping, one poller
each). Instances are threads of this process, because the handler's work is mostly waiting on the
token endpoint; each has its own Services (its own boto3 session and clients, httpx client,
refresher and caches), as a Lambda instance would, never a shared one.

The broker's CPU per refresh is `time.process_time()` of this process over the consuming phase,
divided by the refreshes done: moto and the fake Google run in their own processes, so their time
is not counted, while botocore's request building and parsing, httpx, authlib, AES-GCM and
pydantic are (real Lambda CPU). The pollers' receive/delete calls (the Lambda service's work in
AWS) are counted too: the figure is an upper bound.

The projection for 100 concurrent instances is arithmetic on those two figures (`project`, pure,
unit-tested), not a measurement. A script, not a test: figures depend on the machine and on what
else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib.util
import io
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- Lambda's limits the projection uses (AWS documentation, checked 2026-12) -------------------------
ACCOUNT_CONCURRENCY = 1000  # default concurrent executions per account and region (a quota)
SQS_SCALE_UP_PER_MINUTE = 300  # an SQS event source mapping adds up to 300 concurrent instances a minute
SQS_MAX_BATCHES_PER_MAPPING = 1250  # batches one standard-queue mapping processes at once, at most
VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB (the refresh function's MemorySize)
WINDOW_SECONDS = 15 * 60  # a due connection is due within the next 15 minutes
GOAL_DUE = 1_000_000
GOAL_CPU_MS = 5.0


# -- the projection: pure arithmetic ---------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    instances: int  # concurrent refresh instances actually running (after every limit)
    per_instance: float  # refreshes/s one instance sustains
    rate: float  # refreshes/s of them all
    ramp_seconds: float  # time the event source mapping takes to scale up to `instances`
    clear_seconds: float  # time to work off `due` connections, ramp included
    due: int

    @property
    def within_window(self) -> bool:
        return self.clear_seconds <= WINDOW_SECONDS


def per_instance_rate(measured_rate: float, cpu_ms: float, vcpus: float = 1.0) -> float:
    """What one instance sustains: the rate measured with one worker (bound by waiting), unless
    its CPU is the tighter bound (`vcpus` x 1000 ms / CPU ms per refresh)."""
    return min(measured_rate, vcpus * 1000.0 / cpu_ms)


def effective_instances(
    wanted: int,
    *,
    max_concurrency: int,
    reserved: int | None,
    account: int = ACCOUNT_CONCURRENCY,
) -> int:
    """Instances that run at once: the mapping's MaximumConcurrency, the function's reserved
    concurrency (when set), the account's quota and the mapping's own ceiling bound `wanted`."""
    limits = [wanted, max_concurrency, account, SQS_MAX_BATCHES_PER_MAPPING]
    if reserved:
        limits.append(reserved)
    return max(0, min(limits))


def clear_seconds(due: int, rate: float, ramp_seconds: float) -> float:
    """Seconds to refresh `due` connections when the rate grows linearly from 0 to `rate` over
    `ramp_seconds` (the mapping scaling up), then stays there."""
    if rate <= 0:
        return float("inf")
    during_ramp = rate * ramp_seconds / 2
    if due <= during_ramp:
        return (2 * due * ramp_seconds / rate) ** 0.5  # due = rate/ramp * t^2 / 2
    return ramp_seconds + (due - during_ramp) / rate


def project(
    instances: int,
    *,
    measured_rate: float,
    cpu_ms: float,
    due: int = GOAL_DUE,
    vcpus: float = 1.0,
    scale_up_per_minute: int = SQS_SCALE_UP_PER_MINUTE,
) -> Projection:
    per = per_instance_rate(measured_rate, cpu_ms, vcpus)
    rate = instances * per
    ramp = 60.0 * instances / scale_up_per_minute
    return Projection(instances, per, rate, ramp, clear_seconds(due, rate, ramp), due)


# -- the world: moto's server and the fake Google in their own processes ---------------------------------
def _tokens_bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_tokens

    return bench_tokens


def _refresh_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_app", ROOT / "functions" / "refresh" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Each worker instance's Services, seen by the real handler's `get_services()` (bench hook: the
# handler module's name is rebound to read this; contextvars follow the batch's worker threads).
_INSTANCE: contextvars.ContextVar[Any] = contextvars.ContextVar("instance_services")


class LambdaContext:
    function_name = "oauth-broker-refresh"
    function_version = "$LATEST"
    memory_limit_in_mb = VCPU_MB
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:oauth-broker-refresh"
    aws_request_id = "bench"
    log_group_name = log_stream_name = "bench"

    def __init__(self, timeout_seconds: float = 300.0):
        self._end = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._end - time.monotonic()) * 1000)


def make_client(endpoint: str, name: str) -> Any:
    import boto3

    return boto3.session.Session().client(name, endpoint_url=endpoint)


class PollerCpu:
    """The CPU the pollers spend in their own SQS calls: `time.thread_time()` around each call (a
    boto3 call runs in its caller's thread), summed over the pollers."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def wrap(self, sqs: Any) -> Any:
        meter = self

        class Metered:
            def __getattr__(self, name: str) -> Any:
                call = getattr(sqs, name)

                def timed(*args: Any, **kwargs: Any) -> Any:
                    started = time.thread_time()
                    try:
                        return call(*args, **kwargs)
                    finally:
                        spent = time.thread_time() - started
                        with meter._lock:
                            meter.seconds += spent

                return timed

        return Metered()


@dataclass
class World:
    endpoint: str
    google: str
    config: Any
    coordinator: Any  # Services: seeding and the sweep
    queue_url: str
    queue_arn: str
    token_requests: Any
    pids: list[int]

    def emulator_cpu(self) -> float:
        """CPU seconds (user + system) moto's and the fake Google's processes have used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
        return total


def make_services(world_endpoint: str, config: Any, pool: int) -> Any:
    """One instance's own Services: its own boto3 session, clients and httpx client."""
    import boto3
    import httpx
    from botocore.config import Config

    from oauth_broker.services import Services

    session = boto3.session.Session()
    cfg = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=pool)
    clients = {
        name: session.client(name, endpoint_url=world_endpoint, config=cfg)
        for name in ("dynamodb", "kms", "events", "sqs")
    }
    http = httpx.Client(limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))
    return Services(config, http=http, **clients)


@contextlib.contextmanager
def world(latency: float) -> Iterator[World]:
    import json
    import subprocess
    import tempfile

    import boto3
    import httpx

    from oauth_broker.config import BrokerConfig
    from oauth_broker.services import configure
    from oauth_broker_dev.aws_local import bootstrap, ensure_work_queue
    from oauth_broker_dev.fake_google.local import providers_override

    tb = _tokens_bench()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT / "dev")])}
    moto_port, google_port = tb.free_port(), tb.free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], **quiet
        ),
        subprocess.Popen(
            [sys.executable, "-c", tb.FAKE_GOOGLE_SERVER, str(google_port), tb.CLIENT_ID, tb.CLIENT_SECRET],
            **quiet,
        ),
    ]
    endpoint, google = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{google_port}"
    try:
        tb.wait_for(endpoint)
        tb.wait_for(f"{google}/bench/counters")
        # every refresh_token grant answers after `latency` seconds (a delay-only rule: it succeeds)
        httpx.post(
            f"{google}/_control/fail_next", json={"endpoint": "token", "delay": latency, "count": 10**9}
        ).raise_for_status()
        session = boto3.session.Session()
        setup = {n: session.client(n, endpoint_url=endpoint) for n in ("dynamodb", "kms", "events", "sqs")}
        resources = bootstrap(
            setup["dynamodb"], setup["kms"], setup["events"], table_name="bench", bus_name="bench"
        )
        queue = ensure_work_queue(setup["sqs"], visibility_timeout=300)
        with tempfile.TemporaryDirectory() as tmp:
            providers = Path(tmp) / "providers.json"
            providers.write_text(json.dumps(providers_override(google)))
            config = BrokerConfig(
                table_name=resources.table_name,
                kms_key_id=resources.key_id,
                event_bus_name=resources.bus_name,
                jwt_issuer="https://idp.bench",
                jwt_audience="bench",
                jwks_url="https://idp.bench/jwks.json",
                providers_file=str(providers),
                allow_loopback_urls=True,
                refresh_queue_url=queue.queue_url,
            )
            coordinator = make_services(endpoint, config, pool=16)
            configure(coordinator)

            def token_requests() -> int:
                return int(httpx.get(f"{google}/bench/counters").json()["refresh_token"])

            try:
                yield World(
                    endpoint,
                    google,
                    config,
                    coordinator,
                    queue.queue_url,
                    queue.queue_arn,
                    token_requests,
                    [p.pid for p in procs],
                )
            finally:
                configure(None)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Run:
    workers: int
    refreshed: int
    failed: int
    token_requests: int
    seconds: float
    cpu_ms: float  # this process's CPU per refresh: the function's and the pollers'
    poller_cpu_ms: float  # of which the pollers' receive/delete calls (the Lambda service's, in AWS)
    enqueue_rate: float
    emulator_cpu_ms: float  # moto's and the fake Google's CPU per refresh (their own processes)
    calls: dict[str, float]  # the function's AWS calls per refresh, by operation

    @property
    def function_cpu_ms(self) -> float:
        return self.cpu_ms - self.poller_cpu_ms

    @property
    def rate(self) -> float:
        return self.refreshed / self.seconds


def consume(w: World, app: ModuleType, workers: int, due: int, batch_size: int, timeout: float) -> Run:
    from oauth_broker.tokens.sweep import RefreshSweep
    from oauth_broker_dev.sqs_poller import LocalEventSourceMapping

    tb = _tokens_bench()
    tb.seed_remote(w.coordinator, w.google, due, prefix=f"w{workers}-")
    started = time.perf_counter()
    report = RefreshSweep(w.coordinator).run(deadline=time.monotonic() + 300)
    enqueue_rate = report.enqueued / (time.perf_counter() - started)
    if report.enqueued != due:
        raise RuntimeError(f"the sweep enqueued {report.enqueued} of {due} due connections")
    before = w.token_requests()

    # the instances are made before the clock starts: their init is the cold-init bench's subject
    mappings = []
    poller_cpu = PollerCpu()
    counters = []
    for _ in range(workers):
        services = make_services(w.endpoint, w.config, pool=batch_size + 4)
        counters += [tb.Counter(services.dynamodb), tb.Counter(services.kms), tb.Counter(services.events)]

        def invoke(event: dict[str, Any], services: Any = services) -> Any:
            _INSTANCE.set(services)
            return app.handler(event, LambdaContext())

        poller_sqs = poller_cpu.wrap(make_client(w.endpoint, "sqs"))  # the Lambda service's client
        mappings.append(
            LocalEventSourceMapping(
                poller_sqs, w.queue_url, w.queue_arn, invoke, batch_size=batch_size, max_concurrency=1
            )
        )

    def done() -> tuple[int, int]:
        ok = failed = 0
        for m in mappings:
            with m._lock:  # the poller's record of its invocations
                for d in m.deliveries:
                    ok += len(d.message_ids) - len(d.failed_ids)
                    failed += len(d.failed_ids)
        return ok, failed

    sink = io.StringIO()  # the handler's EMF metrics lines (printed, as in Lambda; not shown)
    with contextlib.redirect_stdout(sink):
        emulators = w.emulator_cpu()
        cpu, started = time.process_time(), time.perf_counter()
        for m in mappings:
            m.start()
        end = time.monotonic() + timeout
        ok, failed = done()
        while ok < due and time.monotonic() < end:
            time.sleep(0.05)
            ok, failed = done()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        emulators = w.emulator_cpu() - emulators
        for m in mappings:
            m.stop()
    if ok < due:
        raise RuntimeError(
            f"{workers} worker(s) refreshed {ok} of {due} in {timeout:.0f} s ({failed} failed)"
        )
    return Run(
        workers,
        ok,
        failed,
        w.token_requests() - before,
        elapsed,
        cpu / ok * 1000,
        poller_cpu.seconds / ok * 1000,
        enqueue_rate,
        emulators / ok * 1000,
        calls_by_operation(counters, ok),
    )


def calls_by_operation(counters: list[Any], refreshes: int) -> dict[str, float]:
    totals: dict[str, int] = {}
    for counter in counters:
        for op, n in counter.snapshot().items():
            totals[op] = totals.get(op, 0) + n
    return {op: n / refreshes for op, n in sorted(totals.items())}


def print_runs(runs: list[Run], latency: float, batch_size: int) -> None:
    print(
        f"\n## Refresh queue consumers: {runs[0].refreshed} due connections per run, batch size "
        f"{batch_size}, token endpoint {latency * 1000:.0f} ms\n"
    )
    print(
        "| worker instances | refreshed | token requests | failed records | seconds | refreshes/s "
        "| per instance/s | process CPU ms per refresh | of which pollers | function CPU ms per refresh |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(
            f"| {r.workers} | {r.refreshed} | {r.token_requests} | {r.failed} | {r.seconds:.2f} "
            f"| {r.rate:.0f} | {r.rate / r.workers:.1f} | {r.cpu_ms:.1f} | {r.poller_cpu_ms:.1f} "
            f"| {r.function_cpu_ms:.1f} |"
        )
    print(
        "\nEmulators' CPU per refresh (moto and the fake Google, their own processes, not counted "
        "above): " + ", ".join(f"{r.workers} worker(s) {r.emulator_cpu_ms:.1f} ms" for r in runs)
    )
    calls = runs[-1].calls
    print(
        f"The function's AWS calls per refresh: {sum(calls.values()):.2f} ("
        + ", ".join(f"{op} {n:.2f}" for op, n in calls.items())
        + ")"
    )
    print(f"The sweep enqueued {statistics.median(r.enqueue_rate for r in runs):.0f} jobs/s (median).")


def print_projection(measured_rate: float, cpu_ms: float, *, max_concurrency: int, reserved: int) -> None:
    print("\n## Projection for Lambda (arithmetic on the figures above, NOT a measurement)\n")
    cpu_bound = 1000.0 / cpu_ms
    per = per_instance_rate(measured_rate, cpu_ms)
    print(
        f"- one instance (1,769 MB = 1 vCPU): min(measured with 1 worker {measured_rate:.1f}/s, "
        f"CPU bound 1000 / {cpu_ms:.1f} ms = {cpu_bound:.0f}/s) = {per:.1f} refreshes/s"
    )
    print(
        f"- limits: {ACCOUNT_CONCURRENCY:,} concurrent executions per account (default quota); an SQS "
        f"mapping scales up by {SQS_SCALE_UP_PER_MINUTE} instances a minute, to "
        f"{SQS_MAX_BATCHES_PER_MAPPING:,} at most; RefreshQueueMaxConcurrency (default "
        f"{max_concurrency}) and RefreshReservedConcurrency (default {reserved}) bound it first"
    )
    need = GOAL_DUE / WINDOW_SECONDS
    print(f"- the goal: {GOAL_DUE:,} due in {WINDOW_SECONDS} s = {need:,.0f} refreshes/s\n")
    print("| setting | instances | refreshes/s | ramp s | seconds for 1,000,000 | within 15 min |")
    print("|---|---:|---:|---:|---:|---|")
    settings = [
        (
            f"template defaults (MaxConcurrency {max_concurrency}, reserved {reserved})",
            effective_instances(100, max_concurrency=max_concurrency, reserved=reserved),
        ),
        ("MaxConcurrency 100, reserved 110", effective_instances(100, max_concurrency=100, reserved=110)),
    ]
    for label, instances in settings:
        p = project(instances, measured_rate=measured_rate, cpu_ms=cpu_ms)
        print(
            f"| {label} | {p.instances} | {p.rate:,.0f} | {p.ramp_seconds:.0f} | {p.clear_seconds:,.0f} "
            f"| {'yes' if p.within_window else 'NO'} |"
        )
    p = project(100, measured_rate=measured_rate, cpu_ms=cpu_ms)
    meanwhile = p.rate * p.ramp_seconds / 2
    verdict = "<=" if p.within_window else ">"
    print(
        f"\n100 instances: 100 x {p.per_instance:.1f}/s = {p.rate:,.0f}/s; the mapping takes 60 x 100 / "
        f"{SQS_SCALE_UP_PER_MINUTE} = {p.ramp_seconds:.0f} s to get there (rate x ramp / 2 = "
        f"{meanwhile:,.0f} refreshed meanwhile), then ({GOAL_DUE:,} - {meanwhile:,.0f}) / {p.rate:,.0f}: "
        f"{p.clear_seconds:,.0f} s in all {verdict} {WINDOW_SECONDS} s. The fewest instances that meet "
        f"the goal: {smallest_instances(measured_rate, cpu_ms)}."
    )


def smallest_instances(measured_rate: float, cpu_ms: float, due: int = GOAL_DUE) -> int:
    """The fewest concurrent instances that clear `due` within the window (ramp included)."""
    for instances in range(1, SQS_MAX_BATCHES_PER_MAPPING + 1):
        if project(instances, measured_rate=measured_rate, cpu_ms=cpu_ms, due=due).within_window:
            return instances
    return -1


def botocore_cpu_ms(w: World, calls: int = 300) -> float:
    """This process's CPU per DynamoDB GetItem against moto: what botocore itself costs a call."""
    ddb = w.coordinator.dynamodb
    key = {"pk": {"S": "bench#none"}, "sk": {"S": "bench#none"}}
    ddb.get_item(TableName=w.config.table_name, Key=key)
    started = time.process_time()
    for _ in range(calls):
        ddb.get_item(TableName=w.config.table_name, Key=key)
    return (time.process_time() - started) / calls * 1000


def template_default(name: str) -> int:
    from oauth_broker_dev.aws_local import parameter_default

    return int(parameter_default(name))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--due", type=int, default=400, help="due connections per run (default 400)")
    parser.add_argument("--workers", default="1,2,4,8", help="worker instance counts (default 1,2,4,8)")
    parser.add_argument("--latency", type=float, default=0.15, help="token endpoint latency, s (0.15)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run")
    parser.add_argument("--smoke", action="store_true", help="100 due connections, 1 and 8 workers")
    args, _ = parser.parse_known_args()  # `python -m bench -- ...` passes every script the same extras
    if args.smoke:
        args.due, args.workers = 100, "1,8"

    tb = _tokens_bench()
    tb.aws_env()
    import warnings

    warnings.filterwarnings("ignore")
    batch_size = template_default("RefreshQueueBatchSize")
    print(f"# Scaling benchmark (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print(
        "Worker instances are threads of one broker process, each with its own Services; moto and the"
        " fake Google run in their own processes. Beyond 2 cores the threads measure waiting, not CPU."
    )
    app = _refresh_app()
    app.get_services = _INSTANCE.get  # bench hook: each instance's own Services
    runs = []
    with world(args.latency) as w:
        for workers in (int(n) for n in args.workers.split(",")):
            runs.append(consume(w, app, workers, args.due, batch_size, args.timeout))
        per_call = botocore_cpu_ms(w)
    print_runs(runs, args.latency, batch_size)
    last = runs[-1]
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / (last.cpu_ms + last.emulator_cpu_ms)
    print(
        f"This machine's CPU ceiling for the whole loop: {cores} cores x 1000 / ({last.cpu_ms:.1f} broker + "
        f"{last.emulator_cpu_ms:.1f} emulators) ms = {ceiling:.0f} refreshes/s, shared with whatever else "
        f"runs; measured with {last.workers} workers: {last.rate:.0f}/s. Past that point more instances "
        "only wait for the CPU."
    )
    calls = sum(last.calls.values())
    print(
        f"botocore's own CPU per AWS call (GetItem against moto, request building, signing, parsing): "
        f"{per_call:.2f} ms; x {calls:.2f} calls = {per_call * calls:.1f} ms of the function's "
        f"{last.function_cpu_ms:.1f} ms per refresh."
    )
    one = next((r for r in runs if r.workers == 1), runs[0])
    cpu_ms = statistics.median(r.function_cpu_ms for r in runs)
    print(
        f"\nThe broker's own CPU per refresh (the refresh function's, pollers excluded): {cpu_ms:.1f} ms, "
        f"median of the runs; goal <= {GOAL_CPU_MS:.0f} ms: "
        f"{'met' if cpu_ms <= GOAL_CPU_MS else f'missed by {cpu_ms - GOAL_CPU_MS:.1f} ms'}"
    )
    print_projection(
        one.rate / one.workers,
        cpu_ms,
        max_concurrency=template_default("RefreshQueueMaxConcurrency"),
        reserved=template_default("RefreshReservedConcurrency"),
    )


if __name__ == "__main__":
    main()
