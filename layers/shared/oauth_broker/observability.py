"""The Powertools logger, and the metrics of one invocation, for every function.

Metrics are one `InvocationMetrics` per invocation, bound in a `ContextVar` by the handler's
`@observed(...)` decorator, and written as CloudWatch EMF lines on stdout when the invocation ends,
with Powertools' `EphemeralMetrics` (one per dimension set). Not Powertools' `Metrics`: its
instances share one metric set per process, which in the local runtime (concurrent invocations on
threads of one process) mixes one invocation's metrics into another's flush. Code below the handler
adds to the current invocation's set with `metric(name, ...)`; outside an invocation (a test
driving domain code), nothing is recorded. Names, units and dimensions are
`oauth_broker.metrics_catalog`'s, and a metric or dimension set it does not list is refused.

No Powertools Tracer: the functions run with Lambda's active X-Ray tracing (template.yaml), and the
X-Ray SDK the Tracer needs costs ~250 ms of cold start on import, which the proxy can't afford.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from oauth_broker.binding import bound
from oauth_broker.metrics_catalog import FUNCTIONS, METRICS, NAMESPACE

__all__ = ["InvocationMetrics", "logger", "metric", "observed", "status_class"]

logger = Logger(service="oauth-broker")

# Values one EMF line may carry per metric (CloudWatch's limit, and Powertools' auto-flush point).
MAX_VALUES_PER_LINE = 99

Emit = Callable[[str], None]
F = TypeVar("F", bound=Callable[..., Any])


_file_lock = threading.Lock()


def _stdout(line: str) -> None:
    """Lambda reads EMF from stdout. The local runtime may name a file instead
    (`BROKER_METRICS_FILE`), so that `make dev`'s terminal shows logs, not metric documents."""
    path = os.environ.get("BROKER_METRICS_FILE")
    if path:
        with _file_lock, open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class InvocationMetrics:
    """The metrics one invocation adds, by dimension set; `flush()` writes one EMF line per set."""

    def __init__(
        self,
        function: str,
        *,
        namespace: str | None = None,
        service: str | None = None,
        emit: Emit | None = None,
    ) -> None:
        if function not in FUNCTIONS:
            raise ValueError(f"unknown function {function!r}")
        self.function = function
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "oauth-broker"
        self._emit = emit
        self._lock = threading.Lock()
        # dimension set -> metric name -> values
        self._sets: dict[tuple[tuple[str, str], ...], dict[str, list[float]]] = {}

    def add(self, name: str, value: float = 1, **dimensions: str) -> None:
        """Adds one value of `name`; `function` is filled in when the metric has that dimension."""
        spec = METRICS.get(name)
        if spec is None:
            raise ValueError(f"{name!r} is not in oauth_broker.metrics_catalog")
        if "function" in spec.dimensions:
            dimensions.setdefault("function", self.function)
        if set(dimensions) != set(spec.dimensions):
            raise ValueError(f"{name!r} takes the dimensions {spec.dimensions}, not {tuple(dimensions)}")
        key = tuple(sorted((k, str(v)) for k, v in dimensions.items()))
        with self._lock:
            self._sets.setdefault(key, {}).setdefault(name, []).append(float(value))

    def lines(self) -> list[dict[str, Any]]:
        """The EMF documents of what was added (and forgets it)."""
        from aws_lambda_powertools.metrics import EphemeralMetrics

        with self._lock:
            sets, self._sets = self._sets, {}
        documents: list[dict[str, Any]] = []
        for key, named in sets.items():
            chunk = 0
            while True:
                emf = EphemeralMetrics(namespace=self.namespace, service=self.service)
                for dim, dim_value in key:
                    emf.add_dimension(dim, dim_value)
                added = False
                for name, values in named.items():
                    part = values[chunk * MAX_VALUES_PER_LINE : (chunk + 1) * MAX_VALUES_PER_LINE]
                    for value in part:
                        emf.add_metric(name=name, unit=METRICS[name].unit, value=value)
                        added = True
                if not added:
                    break
                documents.append(dict(emf.serialize_metric_set()))
                chunk += 1
        return documents

    def flush(self) -> int:
        """Writes the EMF lines (stdout: Lambda sends them to CloudWatch); returns how many."""
        documents = self.lines()
        emit = self._emit or _stdout
        for document in documents:
            emit(json.dumps(document, separators=(",", ":")))
        return len(documents)


_current: ContextVar[InvocationMetrics | None] = ContextVar("oauth_broker_metrics", default=None)
_started: set[str] = set()  # functions that have served an invocation in this process
_started_lock = threading.Lock()


def metric(name: str, value: float = 1, **dimensions: str) -> None:
    """Adds to the current invocation's metrics; outside an invocation, does nothing."""
    current = _current.get()
    if current is not None:
        current.add(name, value, **dimensions)


def bound_metrics(metrics: InvocationMetrics) -> AbstractContextManager[InvocationMetrics]:
    """`metrics` is the current invocation's for the length of a `with` block."""
    return bound(_current, metrics)


def _first_invocation(function: str) -> bool:
    with _started_lock:
        if function in _started:
            return False
        _started.add(function)
        return True


def status_class(status: int) -> str:
    return f"{max(1, min(5, status // 100))}xx"


def _route_of(event: Mapping[str, Any]) -> str | None:
    """API Gateway's route key (`GET /v1/connections/{id}`): a template, never the raw path."""
    route = event.get("routeKey")
    return str(route) if isinstance(route, str) and route else None


def observed(function: str, *, http: bool = False, emit: Emit | None = None) -> Callable[[F], F]:
    """The handler decorator: binds a fresh `InvocationMetrics`, counts the cold start, and for an
    HTTP function (`http`: one behind an API Gateway route) the request, its latency and its status
    class; flushes when the invocation ends, also when the handler raises (then the request counts
    as a 5xx: API Gateway answers 500)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}")

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            metrics = InvocationMetrics(function, emit=emit)
            if _first_invocation(function):
                metrics.add("cold_start")
            route = _route_of(event) if http and isinstance(event, Mapping) else None
            started = time.perf_counter()
            status = 500
            try:
                with bound_metrics(metrics):
                    result = handler(event, context, *args, **kwargs)
                if isinstance(result, Mapping) and isinstance(result.get("statusCode"), int):
                    status = int(result["statusCode"])
                return result
            finally:
                if route is not None:
                    elapsed_ms = (time.perf_counter() - started) * 1000.0
                    cls = status_class(status)
                    metrics.add("requests", route=route, status_class=cls)
                    metrics.add("latency", elapsed_ms, route=route, status_class=cls)
                    metrics.add("server_error", 1 if status >= 500 else 0)
                try:
                    metrics.flush()
                except Exception as exc:  # metrics must never fail the request they describe
                    logger.warning("metrics not published", extra={"error_type": type(exc).__name__})

        return wrapper  # type: ignore[return-value]

    return decorate
