"""The metrics of a whole flow, read back from the EMF lines the functions wrote on stdout (as
CloudWatch reads them from the Lambda logs): connect, proxy calls (a retry, a 429), a forced
refresh, a revoked grant, refused RISC and Gmail pushes, the sweep, webhook deliveries and the
authorizer, with the names and dimension sets of `oauth_broker.metrics_catalog` and nothing that
identifies a user."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest

from brokertest.connect import allow_return_origins, create_oauth_client, run_flow
from brokertest.google import build_google_world
from brokertest.metrics import Datum, emf_data, total
from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
from oauth_broker import observability
from oauth_broker.metrics_catalog import FUNCTIONS, METRICS, NAMESPACE
from oauth_broker.proxy.semaphore import ConcurrencySemaphore
from oauth_broker.services import configure
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import http_routes

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE = "gmail/v1/users/me/profile"


@pytest.fixture
def flow_world(aws, tmp_path):
    """The fake Google, and a webhook receiver on 127.0.0.1 the broker may call."""
    world, fake = build_google_world(aws, tmp_path, world_config={"allow_loopback_urls": True})
    receiver = WebhookReceiver().start()
    world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
    try:
        yield world, fake, receiver
    finally:
        receiver.stop()
        configure(None)


def run_full_flow(world, fake, receiver) -> dict[str, str]:
    """Everything a day of the broker does once; returns the ids it made (for the leak check)."""
    allow_return_origins(world)
    configure_webhook(world, receiver.url, "whsec_metrics_test_secret")
    bridge = attach_webhook_delivery(world)
    client = create_oauth_client(world)
    flow = run_flow(world, fake, client["id"], scopes=["gmail.readonly"])
    con_id = flow.connection_id
    alice = world.token("acme", "alice")

    fake.fail_next("gmail", status=503)  # one retry, then the profile
    assert world.request("GET", f"/v1/connections/{con_id}/proxy/{PROFILE}", token=alice).status_code == 200

    patched = world.request(
        "PATCH", f"/v1/connections/{con_id}", token=alice, json_body={"concurrency_level": 1}
    )
    assert patched.status_code == 200, patched.get_data(as_text=True)
    semaphore = ConcurrencySemaphore(world.services.table)
    lease = semaphore.acquire(con_id, 1, lease_seconds=30)  # the one slot is taken
    try:
        limited = world.request("GET", f"/v1/connections/{con_id}/proxy/{PROFILE}", token=alice)
    finally:
        semaphore.release(lease)
    assert limited.status_code == 429

    assert world.request("POST", f"/v1/connections/{con_id}/refresh", token=alice).status_code == 200
    fake.revoke_all_for(flow.confirmed.json["account"]["email"])
    assert world.request("POST", f"/v1/connections/{con_id}/refresh", token=alice).status_code == 409

    # Google's security event receiver (no authorizer): a body that is no token is refused
    refused = world.request(
        "POST", "/v1/google/risc", data=b"not-a-token", headers={"Content-Type": "application/secevent+jwt"}
    )
    assert refused.status_code == 400
    # Gmail's push receiver (no authorizer): a token Google did not sign is refused, nothing read
    push = {"message": {"data": "e30=", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}
    forged = world.request(
        "POST", "/v1/google/gmail-push", json_body=push, headers={"Authorization": "Bearer not-a-token"}
    )
    assert forged.status_code == 401

    schedule = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())
    lambda_runtime.invoke("refresh", schedule)
    bridge.drain()
    assert receiver.wait_for(2)
    return {"connection": con_id, "oauth_client": client["id"], "tenant": "acme", "user": "alice"}


def signature(datum: Datum) -> tuple[str, tuple[str, ...]]:
    return datum.name, tuple(sorted(datum.dimensions))


def test_given_a_full_flow_when_its_emf_lines_are_read_then_each_function_published_the_catalogued_metrics(
    flow_world, capsys, monkeypatch
):
    world, fake, receiver = flow_world
    monkeypatch.setattr(observability, "_started", set())  # a fresh process: each function starts cold
    capsys.readouterr()

    ids = run_full_flow(world, fake, receiver)

    data = emf_data(capsys.readouterr().out)
    assert data, "no EMF line was written"
    assert {d.namespace for d in data} == {os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)}
    # every metric is the catalogue's, with exactly its dimension set (plus `service`)
    for datum in data:
        spec = METRICS[datum.name]
        assert signature(datum) == (datum.name, tuple(sorted(("service", *spec.dimensions)))), datum
    assert {d.name for d in data} >= {
        "requests",
        "latency",
        "server_error",
        "upstream_requests",
        "upstream_latency",
        "upstream_server_error",
        "upstream_retries",
        "rate_limited",
        "concurrency_limited",
        "refreshed",
        "needs_reauth",
        "sweep_remaining",
        "sweep_enqueued",
        "sweep_discarded",
        "webhook_delivered",
        "cold_start",
    }
    # the request metrics of every HTTP function, by route template and status class
    request_functions = {d.dimensions["function"] for d in data if d.name == "requests"}
    assert request_functions == {"authorize", "callback", "api", "proxy", "risc", "gmail_push"}
    assert total(data, "requests", function="risc", route="POST /v1/google/risc", status_class="4xx") == 1
    push_route = "POST /v1/google/gmail-push"
    assert total(data, "requests", function="gmail_push", route=push_route, status_class="4xx") == 1
    assert total(data, "gmail_pushes", outcome="refused") == 1
    assert total(data, "requests", function="callback", route="GET /v1/oauth/callback") == 1
    proxy_route = "ANY /v1/connections/{id}/proxy/{path+}"
    assert total(data, "requests", function="proxy", route=proxy_route, status_class="2xx") == 1
    assert total(data, "requests", function="proxy", route=proxy_route, status_class="4xx") == 1
    assert total(data, "rate_limited") == total(data, "concurrency_limited") == 1
    # the proxy's calls to Google: a 503, its retry, a 200
    assert total(data, "upstream_requests", status_class="5xx") == 1
    assert total(data, "upstream_requests", status_class="2xx") == 1
    assert total(data, "upstream_retries") == 1
    assert [d.values for d in data if d.name == "upstream_server_error"] == [(1.0, 0.0)]
    assert total(data, "refreshed") == 1 and total(data, "needs_reauth") == 1
    assert total(data, "webhook_delivered") >= 2 and total(data, "webhook_failed") == 0
    # each function's first invocation in the process is its cold start, and only that one
    cold = {d.dimensions["function"]: sum(d.values) for d in data if d.name == "cold_start"}
    assert cold == dict.fromkeys(FUNCTIONS, 1.0)
    # low cardinality: no tenant, user, connection or client id in any dimension
    values = {v for d in data for k, v in d.dimensions.items() if k != "service"}
    for value in values:
        assert not re.search(r"(con|ocl|cs|evt)_[0-9a-z]", value), value
        assert all(ident not in value for ident in ids.values()), value
    assert {d.dimensions["route"] for d in data if d.name == "requests"} <= _route_keys()


def _route_keys() -> set[str]:
    """API Gateway's route keys of the template (what a `route` dimension may be)."""
    return {route.route_key for route in http_routes()}
