"""One invocation's metrics: catalogued names and dimensions only, one EMF line per dimension set,
never mixed with a concurrent invocation's, flushed also when the handler raises."""

from __future__ import annotations

import threading

import pytest

from brokertest.metrics import emf_data, total
from oauth_broker import observability
from oauth_broker.observability import InvocationMetrics, metric, observed, status_class


def recorder() -> tuple[list[str], InvocationMetrics]:
    lines: list[str] = []
    return lines, InvocationMetrics("api", emit=lines.append, service="stack-a", namespace="NS")


def test_given_a_metric_outside_the_catalogue_when_added_then_it_is_refused():
    _, metrics = recorder()
    with pytest.raises(ValueError, match=r"not in oauth_broker\.metrics_catalog"):
        metrics.add("connections_of_alice")


def test_given_a_catalogued_metric_with_another_dimension_set_when_added_then_it_is_refused():
    _, metrics = recorder()
    with pytest.raises(ValueError, match="dimensions"):
        metrics.add("refreshed", tenant="acme")
    with pytest.raises(ValueError, match="dimensions"):
        metrics.add("upstream_requests")  # status_class missing


def test_given_metrics_of_two_dimension_sets_when_flushed_then_one_emf_line_each_with_service_and_function():
    lines, metrics = recorder()
    metrics.add("requests", route="GET /v1/health", status_class="2xx")
    metrics.add("latency", 12.5, route="GET /v1/health", status_class="2xx")
    metrics.add("refreshed")
    metrics.add("refreshed")

    assert metrics.flush() == 2
    data = emf_data("\n".join(lines))
    assert len(lines) == 2
    assert {d.namespace for d in data} == {"NS"}
    by_name = {d.name: d for d in data}
    assert by_name["requests"].dimensions == {
        "service": "stack-a",
        "function": "api",
        "route": "GET /v1/health",
        "status_class": "2xx",
    }
    assert by_name["latency"].unit == "Milliseconds" and by_name["latency"].values == (12.5,)
    assert by_name["refreshed"].dimensions == {"service": "stack-a"}
    assert by_name["refreshed"].values == (1.0, 1.0)
    assert metrics.flush() == 0  # flushed metrics are gone


def test_given_more_values_than_one_emf_line_holds_when_flushed_then_they_are_split_and_none_lost():
    lines, metrics = recorder()
    for _ in range(250):
        metrics.add("refreshed")

    metrics.flush()

    data = emf_data("\n".join(lines))
    assert len(lines) == 3
    assert all(len(d.values) <= observability.MAX_VALUES_PER_LINE for d in data)
    assert total(data, "refreshed") == 250


def test_given_no_bound_invocation_when_code_adds_a_metric_then_nothing_happens():
    metric("refreshed")  # a test driving domain code: no invocation, no error, nothing written


def test_given_concurrent_invocations_on_threads_when_each_adds_metrics_then_each_flush_has_only_its_own():
    outputs: dict[str, list[str]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def handler_for(name: str):
        @observed("refresh", emit=outputs[name].append)
        def handler(event, context):
            barrier.wait(5)  # both invocations are bound at once
            for _ in range(50):
                metric("refreshed" if name == "a" else "refresh_failed")
            return {}

        return handler

    threads = [threading.Thread(target=handler_for(n), args=({}, None)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    a, b = (emf_data("\n".join(outputs[n])) for n in ("a", "b"))
    assert total(a, "refreshed") == 50 and total(a, "refresh_failed") == 0
    assert total(b, "refresh_failed") == 50 and total(b, "refreshed") == 0


def test_given_an_http_handler_that_raises_when_invoked_then_a_5xx_request_is_counted_and_flushed(
    monkeypatch,
):
    monkeypatch.setattr(observability, "_started", set())
    lines: list[str] = []

    @observed("api", http=True, emit=lines.append)
    def handler(event, context):
        metric("refreshed")
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        handler({"routeKey": "GET /v1/connections/{id}", "rawPath": "/v1/connections/con_x"}, None)

    data = emf_data("\n".join(lines))
    assert total(data, "requests", route="GET /v1/connections/{id}", status_class="5xx") == 1
    assert [d.values for d in data if d.name == "server_error"] == [(1.0,)]
    assert total(data, "refreshed") == 1  # what the handler added before it raised is kept
    assert total(data, "cold_start", function="api") == 1


def test_given_a_function_invoked_twice_when_observed_then_only_the_first_is_a_cold_start(monkeypatch):
    monkeypatch.setattr(observability, "_started", set())
    lines: list[str] = []

    @observed("webhook", emit=lines.append)
    def handler(event, context):
        return {"status": "delivered"}

    handler({}, None)
    handler({}, None)

    data = emf_data("\n".join(lines))
    assert total(data, "cold_start", function="webhook") == 1
    assert not [d for d in data if d.name == "requests"]  # not an HTTP function: no request metrics


def test_given_a_non_http_function_with_a_route_key_when_observed_then_no_request_is_counted(monkeypatch):
    lines: list[str] = []

    @observed("authorizer", emit=lines.append)
    def handler(event, context):
        return {"isAuthorized": True}

    handler({"routeKey": "GET /v1/connections"}, None)  # the authorizer's event names the route too

    assert not [d for d in emf_data("\n".join(lines)) if d.name in ("requests", "server_error")]


@pytest.mark.parametrize(
    ("status", "cls"), [(200, "2xx"), (204, "2xx"), (303, "3xx"), (429, "4xx"), (502, "5xx")]
)
def test_given_a_status_when_classed_then_its_hundred(status, cls):
    assert status_class(status) == cls


def test_given_an_unknown_function_name_when_observed_then_it_is_refused():
    with pytest.raises(ValueError, match="unknown function"):
        observed("mailer")
