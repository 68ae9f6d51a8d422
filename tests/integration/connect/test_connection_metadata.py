"""Connection metadata the table cannot hold is refused with 422, and the connection stays usable
(found by the fuzzer: an empty key was stored, and every later read or change of the connection
was a 500; a number out of DynamoDB's range was a 500)."""

from __future__ import annotations

import pytest

from brokertest.google import seed_connection


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"": 1}, id="empty key"),
        pytest.param({"crm": {"": "x"}}, id="empty nested key"),
        pytest.param({"list": [{"": "x"}]}, id="empty key in a list"),
        pytest.param(nested(17), id="17 levels deep"),
        pytest.param({"n": -2.2250738585072014e-308}, id="number too small for DynamoDB"),
        pytest.param({"n": [1.0, -3.5100718463525506e244]}, id="number too large for DynamoDB"),
        pytest.param({"n": 10**40 + 1}, id="more than 38 digits"),
        pytest.param({"n": float("nan")}, id="NaN"),
        pytest.param({"n": float("inf")}, id="Infinity"),
    ],
)
def test_given_metadata_the_table_cannot_hold_when_patched_then_422_and_the_connection_stays_usable(
    cw, metadata
):
    rec, _ = seed_connection(cw.world, cw.fake, owner="alice", tenant="acme", metadata={"crm": "1"})
    token = cw.world.token()
    resp = cw.world.request(
        "PATCH", f"/v1/connections/{rec.id}", token=token, json_body={"metadata": metadata}
    )
    assert resp.status_code == 422, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "validation_error"
    assert resp.json["errors"][0]["loc"] == ["body", "metadata"]
    assert cw.world.services.connections.get(rec.id).metadata == {"crm": "1"}
    again = cw.world.request(
        "PATCH", f"/v1/connections/{rec.id}", token=token, json_body={"concurrency_level": None}
    )
    assert again.status_code == 200, again.json


@pytest.mark.parametrize("raw", [b'{"metadata": {"k\\ud800": "v"}}', b'{"metadata": {"k": ["v\\udfff"]}}'])
def test_given_a_lone_surrogate_in_metadata_when_patched_then_422_names_metadata(cw, raw):
    rec, _ = seed_connection(cw.world, cw.fake, owner="alice", tenant="acme")
    resp = cw.world.request(
        "PATCH",
        f"/v1/connections/{rec.id}",
        token=cw.world.token(),
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.json
    assert resp.json["errors"][0]["loc"] == ["body", "metadata"]


def test_given_numbers_at_dynamodbs_limits_when_patched_then_they_are_stored(cw):
    rec, _ = seed_connection(cw.world, cw.fake, owner="alice", tenant="acme")
    metadata = {"small": 1e-130, "large": 9.99e125, "digits": 10**37 + 1, "zero": 0.0, "flag": True}
    resp = cw.world.request(
        "PATCH", f"/v1/connections/{rec.id}", token=cw.world.token(), json_body={"metadata": metadata}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["metadata"] == metadata


def test_given_metadata_16_levels_deep_with_named_keys_when_patched_then_it_is_stored(cw):
    rec, _ = seed_connection(cw.world, cw.fake, owner="alice", tenant="acme")
    resp = cw.world.request(
        "PATCH", f"/v1/connections/{rec.id}", token=cw.world.token(), json_body={"metadata": nested(16)}
    )
    assert resp.status_code == 200, resp.json
    assert cw.world.services.connections.get(rec.id).metadata == nested(16)


def test_given_an_empty_key_set_to_null_when_patched_then_it_is_a_removal_and_accepted(cw):
    rec, _ = seed_connection(cw.world, cw.fake, owner="alice", tenant="acme", metadata={"crm": "1"})
    resp = cw.world.request(
        "PATCH", f"/v1/connections/{rec.id}", token=cw.world.token(), json_body={"metadata": {"": None}}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["metadata"] == {"crm": "1"}
