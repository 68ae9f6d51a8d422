"""The provider's API x the proxy and the typed routes (Gmail, Contacts): a dropped connection
answers 502 `upstream_error`, no answer in time 504 `upstream_timeout`, an oversized body 502
`response_too_large`; a slow answer within the budget is served. The connection is untouched and
no token appears in any answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from brokertest.faults import FaultWorld, raise_, respond
from brokertest.metrics import emf_data, total
from brokertest.proxy import problem
from oauth_broker.proxy.payload import MAX_RESPONSE_BODY_BYTES

# flow -> (provider, scopes, API path prefix at the fake, the call)
FLOWS: dict[str, tuple[str, list[str], str, Callable[[FaultWorld, Any], Any]]] = {
    "proxy": (
        "google-mail",
        ["gmail.readonly"],
        "/gmail/",
        lambda fw, con: fw.pw.proxy(con, "gmail/v1/users/me/labels"),
    ),
    "gmail_typed_route": (
        "google-mail",
        ["gmail.readonly"],
        "/gmail/",
        lambda fw, con: fw.pw.call("GET", f"/v1/connections/{con.id}/gmail/messages"),
    ),
    "contacts_typed_route": (
        "google-contacts",
        ["contacts.readonly"],
        "/people/",
        lambda fw, con: fw.pw.call("GET", f"/v1/connections/{con.id}/contacts"),
    ),
}

# fault -> (make the answer, expected status, expected code)
FAULTS: dict[str, tuple[Callable[[httpx.Request], httpx.Response], int, str]] = {
    "connection_reset": (raise_(httpx.RemoteProtocolError, "peer closed connection"), 502, "upstream_error"),
    "read_error": (raise_(httpx.ReadError, "connection reset by peer"), 502, "upstream_error"),
    "no_answer_in_time": (raise_(httpx.ReadTimeout, "timed out"), 504, "upstream_timeout"),
    "oversized_body": (
        respond(200, b"[" + b"0," * (MAX_RESPONSE_BODY_BYTES // 2) + b"0]"),
        502,
        "response_too_large",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_given_the_provider_api_failing_when_called_through_the_broker_then_a_problem_and_the_connection_kept(
    fw: FaultWorld, flow: str, fault: str
) -> None:
    provider, scopes, prefix, call = FLOWS[flow]
    make, status, code = FAULTS[fault]
    con = fw.pw.connect(scopes, provider=provider)
    before = fw.services.connections.get(con.id)
    fw.google.next(prefix, make, count=10)

    resp = call(fw, con)

    assert fw.google.hits >= 1
    body = problem(resp)
    assert resp.status_code == status and body["code"] == code, body
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "ya29." not in text and "Bearer" not in text
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_access_token == before.enc_access_token
    fw.google.clear()
    assert call(fw, con).status_code == 200


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_given_a_slow_provider_api_within_the_budget_when_a_client_calls_through_the_broker_then_it_is_served(
    fw: FaultWorld, flow: str
) -> None:
    provider, scopes, _, call = FLOWS[flow]
    con = fw.pw.connect(scopes, provider=provider)
    fw.fake.set_api_delay(1.0)

    resp = call(fw, con)

    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert fw.pw.api_requests()


def test_given_the_provider_unreachable_when_proxied_then_the_metrics_show_network_calls_and_retries(
    fw: FaultWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    con = fw.pw.connect(["gmail.readonly"])
    fw.google.next("/gmail/", raise_(httpx.ConnectError, "connection refused"), count=1)
    capsys.readouterr()

    resp = fw.pw.proxy(con, "gmail/v1/users/me/labels")

    assert resp.status_code == 200  # a refused connection is retried, and the retry lands
    data = emf_data(capsys.readouterr().out)
    assert total(data, "upstream_requests", status_class="network") == 1
    assert total(data, "upstream_requests", status_class="2xx") == 1
    assert total(data, "upstream_retries") == 1
    assert [d.values for d in data if d.name == "upstream_server_error"] == [(1.0, 0.0)]
    assert total(data, "server_error", function="proxy") == 0
