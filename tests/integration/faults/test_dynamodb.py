"""DynamoDB x every flow: throttling, InternalServerError and timeouts answer 503 with Retry-After (a
problem document; an HTML page on the browser routes) and leave nothing half-written: the same
request succeeds once the table answers again. A failed condition at a conditional write answers
409 (or the flow's own outcome), never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import TestResponse

from brokertest.connect import (
    authorize,
    callback,
    confirm,
    confirmation_of,
    create_session,
    provider_redirect,
    result_of,
    run_flow,
)
from brokertest.faults import (
    RETRYABLE_AWS,
    FaultWorld,
    assert_no_plaintext,
    assert_retry_later,
    pk_starts,
    transaction_writes,
)
from brokertest.proxy import problem

FAULTS = pytest.mark.parametrize("fault", sorted(RETRYABLE_AWS))


def _inject(
    fw: FaultWorld, fault: str, operation: str, when: Callable[[dict[str, Any]], bool] | None = None
) -> Any:
    code, status = RETRYABLE_AWS[fault]
    return fw.faults.fail(fw.world.aws.dynamodb, operation, code, status=status, when=when)


# -- API routes: the answer, then the same request once the table is back ---------------------------------

# flow -> (operation, partition key prefix, request)
_API_FLOWS: dict[str, tuple[str, str | None, Callable[[FaultWorld, Any], TestResponse]]] = {
    "connect_session": (
        "PutItem",
        "CS#",
        lambda fw, con: fw.world.request(
            "POST",
            "/v1/connect-sessions",
            token=fw.world.token(),
            json_body={
                "provider": "google-mail",
                "oauth_client_id": fw.ocl,
                "return_to": "https://app.example.com/settings/integrations",
            },
        ),
    ),
    "list_connections": ("Query", None, lambda fw, con: fw.pw.call("GET", "/v1/connections")),
    "proxy": ("GetItem", "CON#", lambda fw, con: fw.pw.proxy(con, "gmail/v1/users/me/labels")),
    "gmail_typed_route": (
        "GetItem",
        "CON#",
        lambda fw, con: fw.pw.call("GET", f"/v1/connections/{con.id}/gmail/messages"),
    ),
    "contacts_typed_route": (
        "GetItem",
        "CON#",
        lambda fw, con: fw.pw.call("GET", f"/v1/connections/{con.id}/contacts"),
    ),
    "forced_refresh": (
        "GetItem",
        "CON#",
        lambda fw, con: fw.pw.call("POST", f"/v1/connections/{con.id}/refresh"),
    ),
    "admin_write": (
        "PutItem",
        "TENANT#",
        lambda fw, con: fw.register_oauth_client(2),
    ),
}


@FAULTS
@pytest.mark.parametrize("flow", sorted(_API_FLOWS))
def test_given_dynamodb_failing_when_a_client_calls_a_route_then_503_with_retry_after_and_the_retry_succeeds(
    fw: FaultWorld, fault: str, flow: str
) -> None:
    operation, prefix, call = _API_FLOWS[flow]
    con = (
        fw.pw.connect(["contacts.readonly"], provider="google-contacts")
        if flow == "contacts_typed_route"
        else fw.pw.connect()
    )
    before = fw.services.connections.get(con.id)
    injected = _inject(fw, fault, operation, pk_starts(prefix) if prefix else None)

    body = assert_retry_later(call(fw, con))

    assert injected.hits == 1
    assert body["reason"] in {"dependency_throttled", "dependency_failed", "dependency_timeout"}
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_refresh_token == before.enc_refresh_token  # the stored refresh token is intact
    retried = call(fw, con)
    assert retried.status_code < 300, retried.get_data(as_text=True)[:400]
    assert_no_plaintext(fw)


# -- the browser routes answer HTML pages ---------------------------------------------------------------


def _assert_retry_page(resp: TestResponse) -> None:
    assert resp.status_code == 503
    assert resp.headers["Content-Type"].startswith("text/html")
    assert int(resp.headers["Retry-After"]) >= 1
    page = resp.get_data(as_text=True)
    assert "try again" in page and "Traceback" not in page


@FAULTS
def test_given_dynamodb_failing_when_the_browser_opens_authorize_then_a_503_retry_page_and_the_link_works(
    fw: FaultWorld, fault: str
) -> None:
    session = create_session(fw.world, fw.ocl)
    injected = _inject(fw, fault, "GetItem", pk_starts("CS#"))
    injected_update = _inject(fw, fault, "UpdateItem", pk_starts("CS#"))
    injected_delete = _inject(fw, fault, "DeleteItem", pk_starts("CS#"))

    _assert_retry_page(authorize(fw.world, session["authorize_url"]))

    assert injected.hits + injected_update.hits + injected_delete.hits == 1
    fw.faults.clear()
    assert provider_redirect(fw.world, session["authorize_url"]).startswith(fw.fake.base_url)


@FAULTS
def test_given_dynamodb_failing_when_the_callback_is_opened_then_a_503_retry_page_and_the_retry_finishes(
    fw: FaultWorld, fault: str
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    injected = _inject(fw, fault, "DeleteItem", pk_starts("STATE#"))
    injected_get = _inject(fw, fault, "GetItem", pk_starts("STATE#"))

    _assert_retry_page(callback(fw.world, back))

    assert injected.hits + injected_get.hits == 1
    fw.faults.clear()
    retried = callback(fw.world, back)
    assert retried.status_code in (200, 303), retried.get_data(as_text=True)[:400]
    assert result_of(retried).get("confirmation")


@FAULTS
def test_given_dynamodb_failing_when_the_callback_stores_the_result_then_retry_told_and_nothing_half_written(
    fw: FaultWorld, fault: str
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    tokens_before = len(fw.fake.requests_to("token"))
    # every write of the connection or its pending result fails, whatever form it takes
    writes = [
        _inject(fw, fault, op, pk_starts(prefix))
        for op in ("PutItem", "UpdateItem")
        for prefix in ("CON#", "CONFIRM#")
    ]
    code, status = RETRYABLE_AWS[fault]
    transact = fw.faults.fail(fw.world.aws.dynamodb, "TransactWriteItems", code, status=status)

    resp = callback(fw.world, back)

    assert sum(w.hits for w in writes) + transact.hits >= 1
    # the state is spent: the app gets the flow's result, `service_unavailable` (start again)
    assert result_of(resp).get("error") == "service_unavailable", resp.get_data(as_text=True)[:300]
    assert len(fw.fake.requests_to("token")) == tokens_before + 1  # the code was spent
    dump = json.loads(fw.table())
    # nothing half-written: no connection without its pending result, no result without its connection
    cons = [i for i in dump if i["pk"]["S"].startswith("CON#") and i["sk"]["S"] == "CON"]
    pending = [i for i in dump if i["pk"]["S"].startswith("CONFIRM#")]
    assert bool(cons) == bool(pending)
    assert_no_plaintext(fw)


@FAULTS
def test_given_dynamodb_failing_when_the_creator_confirms_then_503_and_the_retry_confirms(
    fw: FaultWorld, fault: str
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    confirmation = confirmation_of(callback(fw.world, back))
    assert confirmation
    injected = _inject(fw, fault, "GetItem", pk_starts("CONFIRM#"))

    assert_retry_later(confirm(fw.world, confirmation))

    assert injected.hits == 1
    retried = confirm(fw.world, confirmation)
    assert retried.status_code == 200, retried.get_data(as_text=True)
    assert retried.json["status"] == "active"


# -- the sweep and delete --------------------------------------------------------------------------------


@FAULTS
def test_given_dynamodb_failing_when_the_sweep_stores_a_refresh_then_the_refresh_token_kept_and_working(
    fw: FaultWorld, fault: str
) -> None:
    from oauth_broker.tokens.sweep import RefreshSweep

    con = fw.pw.connect(expires_in=30)
    before = fw.services.connections.get(con.id)
    code, status = RETRYABLE_AWS[fault]
    injected = fw.faults.fail(
        fw.world.aws.dynamodb, "PutItem", code, status=status, count=50, when=pk_starts("CON#")
    )
    injected_update = fw.faults.fail(
        fw.world.aws.dynamodb, "UpdateItem", code, status=status, count=50, when=pk_starts("CON#")
    )

    import time

    RefreshSweep(fw.services).run(deadline=time.monotonic() + 120)

    assert injected.hits + injected_update.hits >= 1
    fw.faults.clear()
    after = fw.services.connections.get(con.id)
    assert after is not None and after.status == before.status
    assert after.enc_refresh_token == before.enc_refresh_token
    # the next request refreshes with the stored refresh token: nothing was lost
    resp = fw.pw.call("POST", f"/v1/connections/{con.id}/refresh")
    assert resp.status_code == 200, resp.get_data(as_text=True)


@FAULTS
def test_given_dynamodb_failing_when_deleting_a_connection_then_it_is_gone_and_the_failed_revocation_reported(
    fw: FaultWorld, fault: str
) -> None:
    con = fw.pw.connect()
    # the connection's delete: one transaction with its token-identifier lookup items
    injected = _inject(fw, fault, "TransactWriteItems", transaction_writes("CON#", "CON"))

    resp = fw.pw.call("DELETE", f"/v1/connections/{con.id}")

    # The refresh function's delete failed: the api function deletes the connection itself and
    # reports (and publishes) the revocation it could not confirm, leaving the encrypted refresh
    # token for the sweep to revoke (`pending_retry`); the user's delete never fails.
    assert injected.hits == 1
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.json["deleted"] is True and resp.json["revocation"] == "pending_retry"
    assert "connection.revocation_failed" in fw.event_types()
    assert fw.services.connections.get(con.id) is None
    assert fw.pw.call("GET", f"/v1/connections/{con.id}").status_code == 404


# -- a failed condition at each conditional write: 409 or the flow's outcome, never a 5xx ---------------


_CONDITIONAL_FLOWS: dict[str, tuple[str, Callable[[FaultWorld, Any], TestResponse]]] = {
    "rename_connection": (
        "CON#",
        lambda fw, con: fw.pw.call("PATCH", f"/v1/connections/{con.id}", json_body={"name": "renamed"}),
    ),
    "register_oauth_client": (
        "TENANT#",
        lambda fw, con: fw.register_oauth_client(3),
    ),
    "change_settings": (
        "TENANT#",
        lambda fw, con: fw.world.request(
            "PATCH",
            "/v1/settings",
            token=fw.world.token("acme", "root", admin=True),
            json_body={"expose_access_tokens": True},
        ),
    ),
    "forced_refresh": ("CON#", lambda fw, con: fw.pw.call("POST", f"/v1/connections/{con.id}/refresh")),
    "delete_connection": ("CON#", lambda fw, con: fw.pw.call("DELETE", f"/v1/connections/{con.id}")),
}


# the conditional writes each flow makes (PutItem with a condition; the refresh lease's DeleteItem)
@pytest.mark.parametrize(
    ("flow", "operation"),
    [*((flow, "PutItem") for flow in sorted(_CONDITIONAL_FLOWS)), ("forced_refresh", "DeleteItem")],
)
def test_given_a_conditional_write_losing_its_condition_when_a_route_writes_then_409_or_its_outcome_never_5xx(
    fw: FaultWorld, flow: str, operation: str
) -> None:
    prefix, call = _CONDITIONAL_FLOWS[flow]
    con = fw.pw.connect()
    before = fw.services.connections.get(con.id)
    injected = fw.faults.fail(
        fw.world.aws.dynamodb,
        operation,
        "ConditionalCheckFailedException",
        when=lambda p: "ConditionExpression" in p and pk_starts(prefix)(p),
    )

    resp = call(fw, con)

    assert resp.status_code < 500, resp.get_data(as_text=True)[:400]
    if resp.status_code >= 400:
        assert problem(resp)["code"]
    assert injected.hits == 1
    after = fw.services.connections.get(con.id)
    if after is not None:  # still there: never corrupted
        assert after.enc_refresh_token == before.enc_refresh_token or after.version > before.version
        assert after.status in (before.status, "active")


def test_given_a_callback_failed_by_dynamodb_when_the_user_starts_again_then_the_new_flow_connects(
    fw: FaultWorld,
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    injected = fw.faults.fail(  # the new connection's put, with its token-identifier lookup items
        fw.world.aws.dynamodb,
        "TransactWriteItems",
        "ThrottlingException",
        when=transaction_writes("CON#", "CON"),
        count=5,
    )
    assert result_of(callback(fw.world, back)).get("error") == "service_unavailable"
    assert injected.hits >= 1
    fw.faults.clear()

    flow = run_flow(fw.world, fw.fake, fw.ocl)

    assert flow.confirmed is not None and flow.confirmed.json["status"] == "active"
    listed = fw.pw.call("GET", "/v1/connections").json
    assert [c["id"] for c in listed["data"]] == [flow.connection_id]  # no leftover of the failed one


def test_given_rotating_refresh_tokens_and_dynamodb_failing_when_proxying_then_no_unstored_token_is_used(
    aws: Any, tmp_path: Any, faults: Any
) -> None:
    from brokertest.proxy import build_proxy_world
    from oauth_broker.services import configure

    pw = build_proxy_world(aws, tmp_path, rotate_refresh_tokens=True)
    try:
        con = pw.connect(expires_in=0)
        before = pw.services.connections.get(con.id)
        injected = faults.fail(  # the rotated token's write: with its token-identifier lookup items
            aws.dynamodb,
            "TransactWriteItems",
            "ProvisionedThroughputExceededException",
            count=100,
            when=transaction_writes("CON#", "CON"),  # not its lease
        )

        resp = pw.proxy(con, "gmail/v1/users/me/labels")

        assert injected.hits >= 1
        assert_retry_later(resp, 502, "upstream_error")
        assert len(pw.fake.requests_to("token")) >= 1  # the provider did rotate
        assert pw.api_requests() == []  # the new access token was never used nor handed out
        after = pw.services.connections.get(con.id)
        assert after is not None and after.enc_refresh_token == before.enc_refresh_token
        assert after.status == before.status
    finally:
        configure(None)
