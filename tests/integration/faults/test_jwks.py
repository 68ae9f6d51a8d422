"""JWKS x the flows that verify signatures: the IdP's (every API call's bearer JWT, checked by the
authorizer) and the provider's (the callback's ID token). Down, and rotated keys."""

from __future__ import annotations

import httpx

from brokertest.connect import callback, create_session, provider_redirect, result_of, run_flow
from brokertest.faults import FaultWorld
from brokertest.world import IDP_BASE, build_world
from oauth_broker_dev import devidp


def _idp_down(fw: FaultWorld) -> None:
    fw.world.transport.mount(IDP_BASE, httpx.MockTransport(lambda request: httpx.Response(503)))


def test_given_the_idp_jwks_down_at_a_cold_start_when_a_client_calls_then_500_not_a_cached_denial(
    fw: FaultWorld,
) -> None:
    cold = build_world(fw.world.aws)  # a new container: no key fetched yet
    cold.transport.mount(IDP_BASE, httpx.MockTransport(lambda request: httpx.Response(503)))

    resp = cold.request("GET", "/v1/connections", token=cold.token())

    # Not a 403 (the user may do this) and nothing cached: API Gateway's 500 for a failed
    # authorizer, and the same token works as soon as the IdP's keys load again.
    assert resp.status_code == 500, resp.get_data(as_text=True)
    assert resp.json == {"message": "Internal Server Error"}
    assert cold.services.jwks.fetches == 0
    cold.transport.mount(
        IDP_BASE, httpx.MockTransport(lambda request: httpx.Response(200, json=devidp.jwks()))
    )
    assert cold.request("GET", "/v1/connections", token=cold.token()).status_code == 200


def test_given_the_idp_jwks_down_after_a_good_fetch_when_a_client_calls_then_the_cached_keys_serve_it(
    fw: FaultWorld,
) -> None:
    assert fw.pw.call("GET", "/v1/connections").status_code == 200  # the keys are fetched and cached
    _idp_down(fw)

    resp = fw.pw.call("GET", "/v1/connections", user="dave")  # a new token: not in the decision cache

    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_given_the_providers_jwks_down_when_the_callback_checks_the_id_token_then_an_error_and_no_connection(
    fw: FaultWorld,
) -> None:
    session = create_session(fw.world, fw.ocl)
    back = fw.fake.complete_consent(provider_redirect(fw.world, session["authorize_url"]))
    fw.fake.fail_next("jwks", status=503, count=5)

    resp = callback(fw.world, back)

    assert fw.fake.requests_to("jwks")
    assert result_of(resp).get("error") == "upstream_error"  # the provider's fault, not a forged token
    assert fw.pw.call("GET", "/v1/connections").json["data"] == []


def test_given_the_provider_rotated_its_signing_key_when_a_connect_flow_completes_then_the_new_key_verifies(
    fw: FaultWorld,
) -> None:
    first = run_flow(fw.world, fw.fake, fw.ocl, account="alice@example.com")
    assert first.confirmed is not None
    fw.fake.rotate_signing_key()

    second = run_flow(fw.world, fw.fake, fw.ocl, account="bob@example.com")

    assert second.confirmed is not None and second.confirmed.json["status"] == "active"
