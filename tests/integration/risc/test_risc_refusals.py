"""What the receiver refuses, through the local gateway: a token failing any check gets 400
`invalid_security_event` and changes nothing (no status, no event, no claim of its `jti`), its
reason in the log and never the token; a replay 400 `replayed_event`; keys it cannot load 503; and
a delivery that failed half-way releases its claim, so Google's retry finishes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from brokertest.faults import AwsFaults, pk_starts
from brokertest.risc import KID, deliver, iss_sub, make_set, signing_key
from oauth_broker.store.models import ConnectionStatus

from .conftest import RiscWorld
from .test_risc_events import ALICE_SUB, current, populate

JTI = "jti-under-test-0001"


def claim_exists(rw: RiscWorld, jti: str = JTI) -> bool:
    aws = rw.world.aws
    found = aws.dynamodb.get_item(
        TableName=aws.resources.table_name, Key={"pk": {"S": f"RISCJTI#{jti}"}, "sk": {"S": "RISCJTI"}}
    )
    return "Item" in found


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    # name: (make_set arguments, the reason logged)
    "bad signature": ({"key": signing_key("forger")}, "signature"),
    "unknown kid": ({"kid": "risc-key-unpublished"}, "signature"),
    "wrong aud": ({"aud": "unregistered.apps.googleusercontent.com"}, "audience"),
    "wrong iss": ({"iss": "https://accounts.example.com/"}, "issuer"),
    "stale iat": ({"iat_offset": -3601}, "stale"),
    "future iat": ({"iat_offset": 300}, "future"),
    "no jti": ({"drop": ("jti",)}, "claims"),
    "no events": ({"drop": ("events",)}, "claims"),
    "no subject": ({"subject": {"subject_type": "email", "email": "alice@example.com"}}, "subject"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_given_a_token_failing_a_check_when_delivered_then_400_and_nothing_changes(rw, log_lines, case):
    population = populate(rw)
    kwargs, reason = REFUSED[case]
    kwargs = {"jti": JTI, **kwargs}
    if "iat_offset" in kwargs:
        kwargs["iat"] = time.time() + kwargs.pop("iat_offset")
    token = make_set("tokens-revoked", kwargs.pop("subject", iss_sub(ALICE_SUB)), **kwargs)

    resp = deliver(rw.world, token)

    assert resp.status_code == 400, resp.get_data(as_text=True)
    problem = resp.get_json()
    assert problem["code"] == "invalid_security_event"
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    for rec in [*population.targets, *population.bystanders]:
        now = current(rw, rec)
        assert (now.status, now.version) == (rec.status, rec.version), rec.id
    assert rw.events() == []
    assert not claim_exists(rw)
    assert log_lines.the("security event refused")["reason"] == reason
    assert token.split(".")[1] not in log_lines.getvalue() and token.split(".")[1] not in resp.get_data(
        as_text=True
    )


def test_given_an_unknown_kid_when_delivered_then_the_jwks_is_refetched_exactly_once_then_refused(rw):
    populate(rw)
    assert deliver(rw.world, make_set("sessions-revoked", iss_sub(ALICE_SUB))).status_code == 202
    fetches = rw.transmitter.jwks_fetches

    resp = deliver(rw.world, make_set("tokens-revoked", iss_sub(ALICE_SUB), kid="risc-key-unpublished"))

    assert resp.status_code == 400
    assert rw.transmitter.jwks_fetches == fetches + 1


def test_given_a_rotated_key_when_a_token_names_the_new_kid_then_one_refetch_finds_it_and_it_applies(
    rw,
):
    population = populate(rw)
    assert deliver(rw.world, make_set("sessions-revoked", iss_sub(ALICE_SUB))).status_code == 202
    rw.transmitter.published = [KID, "risc-key-2"]

    resp = deliver(rw.world, make_set("tokens-revoked", iss_sub(ALICE_SUB), kid="risc-key-2"))

    assert resp.status_code == 202
    assert current(rw, population.targets[0]).status == ConnectionStatus.REVOKED


def test_given_the_transmitters_keys_unreachable_when_a_token_arrives_then_503_and_nothing_changes(
    rw,
):
    population = populate(rw)
    rw.transmitter.down = True

    resp = deliver(rw.world, make_set("tokens-revoked", iss_sub(ALICE_SUB), jti=JTI))

    assert resp.status_code == 503
    assert resp.get_json()["code"] == "service_unavailable"
    assert int(resp.headers["Retry-After"]) > 0
    assert current(rw, population.targets[0]).status == ConnectionStatus.ACTIVE
    assert not claim_exists(rw)


def test_given_a_body_that_is_not_a_token_when_delivered_then_400_invalid_security_event(rw):
    resp = rw.world.request(
        "POST", "/v1/google/risc", data=b"not-a-jwt", headers={"Content-Type": "application/secevent+jwt"}
    )

    assert resp.status_code == 400
    assert resp.get_json()["code"] == "invalid_security_event"


@pytest.fixture
def faults(rw: RiscWorld) -> Iterator[AwsFaults]:
    injector = AwsFaults(rw.world.aws)
    try:
        yield injector
    finally:
        injector.detach()


def test_given_a_write_failing_half_way_when_delivered_again_then_the_retry_finishes_the_event_once(
    rw, faults
):
    population = populate(rw)
    con_puts: list[int] = []

    def second_connection_write(params: dict[str, Any]) -> bool:
        if not pk_starts("CON#")(params):
            return False
        con_puts.append(1)
        return len(con_puts) == 2

    faults.fail(
        rw.world.aws.dynamodb,
        "PutItem",
        "InternalServerError",
        status=500,
        count=1,
        when=second_connection_write,
    )
    token = make_set("tokens-revoked", iss_sub(ALICE_SUB), jti=JTI)

    first = deliver(rw.world, token)

    assert first.status_code == 503, first.get_data(as_text=True)
    assert not claim_exists(rw)  # released: the retry is not a replay
    changed = [r for r in population.targets if current(rw, r).status == ConnectionStatus.REVOKED]
    assert len(changed) == 1

    second = deliver(rw.world, token)

    assert second.status_code == 202
    assert {current(rw, r).status for r in population.targets} == {ConnectionStatus.REVOKED}
    revoked = rw.events("connection.revoked")
    assert sorted(e["connection"]["connection_id"] for e in revoked) == sorted(
        r.id for r in population.targets
    )
    assert claim_exists(rw)
