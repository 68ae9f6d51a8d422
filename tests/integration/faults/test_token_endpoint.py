"""The provider's token endpoint x forced refresh, a proxied call on an expired token, the sweep and
the callback's code exchange: 5xx, 429 with Retry-After, a timeout, a non-JSON or truncated body,
missing fields and a slow answer. A client gets 502 (with Retry-After where a retry helps); the
connection keeps its status and its stored refresh token; the next refresh works."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from brokertest.connect import callback, create_session, provider_redirect, result_of
from brokertest.faults import FaultWorld, assert_no_plaintext, raise_, respond
from brokertest.proxy import problem
from oauth_broker.tokens.sweep import RefreshSweep


def _server_error(fw: FaultWorld) -> None:
    fw.fake.fail_next("token", status=503, count=10)


def _rate_limited(fw: FaultWorld) -> None:
    fw.fake.fail_next("token", status=429, retry_after=2, count=10)


def _timeout(fw: FaultWorld) -> None:
    fw.google.next("/token", raise_(httpx.ReadTimeout, "timed out"), count=10)


def _non_json(fw: FaultWorld) -> None:
    fw.google.next(
        "/token", respond(200, b"<html>Service error</html>", **{"Content-Type": "text/html"}), count=10
    )


def _truncated(fw: FaultWorld) -> None:
    fw.google.next("/token", respond(200, b'{"access_token": "ya29.trunc'), count=10)


def _missing_fields(fw: FaultWorld) -> None:
    fw.google.next("/token", respond(200, b'{"token_type": "Bearer", "expires_in": 3599}'), count=10)


# fault -> (inject, a retry helps)
FAULTS: dict[str, tuple[Callable[[FaultWorld], None], bool]] = {
    "server_error": (_server_error, True),
    "rate_limited": (_rate_limited, True),
    "timeout": (_timeout, True),
    "non_json": (_non_json, False),
    "truncated_body": (_truncated, False),
    "missing_fields": (_missing_fields, False),
}


def _assert_502(resp: Any, retry: bool) -> None:
    body = problem(resp)
    assert resp.status_code == 502 and body["code"] == "upstream_error", body
    assert "Traceback" not in resp.get_data(as_text=True)
    if retry:
        assert int(resp.headers["Retry-After"]) >= 1
    for secret in ("ya29.", "1//"):
        assert secret not in resp.get_data(as_text=True)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_given_the_token_endpoint_failing_when_a_refresh_is_forced_then_502_and_the_connection_intact(
    fw: FaultWorld, fault: str
) -> None:
    inject, retry = FAULTS[fault]
    con = fw.pw.connect()
    before = fw.services.connections.get(con.id)
    inject(fw)

    resp = fw.pw.call("POST", f"/v1/connections/{con.id}/refresh")

    _assert_502(resp, retry)
    if fault == "rate_limited":
        assert int(resp.headers["Retry-After"]) >= 2  # the provider's own Retry-After is passed on
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_refresh_token == before.enc_refresh_token
    fw.fake.clear_failures()
    fw.google.clear()
    assert fw.pw.call("POST", f"/v1/connections/{con.id}/refresh").status_code == 200
    assert_no_plaintext(fw)


@pytest.mark.parametrize("fault", ["server_error", "rate_limited", "timeout", "missing_fields"])
def test_given_the_token_endpoint_failing_when_a_proxied_call_finds_its_token_expired_then_502_nothing_lost(
    fw: FaultWorld, fault: str
) -> None:
    inject, retry = FAULTS[fault]
    con = fw.pw.connect(expires_in=0)
    before = fw.services.connections.get(con.id)
    inject(fw)

    resp = fw.pw.proxy(con, "gmail/v1/users/me/labels")

    _assert_502(resp, retry)
    assert fw.pw.api_requests() == []  # no call went out with an expired token
    after = fw.services.connections.get(con.id)
    assert after is not None and after.enc_refresh_token == before.enc_refresh_token
    assert after.refresh_failures == before.refresh_failures + 1


@pytest.mark.parametrize("fault", ["server_error", "timeout", "truncated_body"])
def test_given_the_token_endpoint_failing_when_the_sweep_runs_then_the_failure_reported_and_next_sweep_works(
    fw: FaultWorld, fault: str
) -> None:
    inject, _ = FAULTS[fault]
    con = fw.pw.connect(expires_in=30)
    before = fw.services.connections.get(con.id)
    inject(fw)

    report = RefreshSweep(fw.services).run(deadline=time.monotonic() + 120)

    assert report.failed == 1 and report.refreshed == 0
    assert "connection.refresh_failed" in fw.event_types()
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_refresh_token == before.enc_refresh_token
    fw.fake.clear_failures()
    fw.google.clear()
    report = RefreshSweep(fw.services).run(deadline=time.monotonic() + 120)
    assert report.refreshed == 1


def test_given_a_slow_token_endpoint_within_the_budget_when_a_refresh_is_forced_then_it_succeeds(
    fw: FaultWorld,
) -> None:
    con = fw.pw.connect()
    fw.fake.fail_next("token", delay=1.5)

    started = time.monotonic()
    resp = fw.pw.call("POST", f"/v1/connections/{con.id}/refresh")

    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert time.monotonic() - started >= 1.5
    assert fw.fake.pending_failures == []


@pytest.mark.parametrize("fault", ["server_error", "timeout", "non_json"])
def test_given_the_token_endpoint_failing_when_the_callback_exchanges_the_code_then_an_error_no_connection(
    fw: FaultWorld, fault: str
) -> None:
    inject, _ = FAULTS[fault]
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    inject(fw)

    resp = callback(fw.world, back)

    error = result_of(resp).get("error")
    assert error and error not in ("internal_error",), error
    assert "Traceback" not in resp.get_data(as_text=True)
    assert fw.pw.call("GET", "/v1/connections").json["data"] == []
    assert '"CON#' not in fw.table() and "CONFIRM#" not in fw.table()
