"""Verifying a security event token (oauth_broker.risc.verify): SETs signed in the test with a local
RSA key, the transmitter's configuration document and JWKS served by an httpx MockTransport (no
sockets). Each check refuses with its own reason; the keys are cached and an unknown `kid`
refetches the JWKS exactly once."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from brokertest.google import CLIENT_ID
from brokertest.risc import ISSUER, KID, Transmitter, iss_sub, make_set, signing_key
from oauth_broker.clients import http_client
from oauth_broker.risc.verify import (
    CLOCK_SKEW_SECONDS,
    MAX_AGE_SECONDS,
    RiscKeys,
    RiscKeysUnavailable,
    SecurityEventRefused,
    SecurityEventToken,
    verify_security_event,
)

CONFIGURATION_URL = "https://risc.test/.well-known/risc-configuration"
NOW = 1_800_000_000.0
SUB = "sub-alice"


def keys_for(transmitter: Transmitter) -> RiscKeys:
    return RiscKeys(CONFIGURATION_URL, ISSUER, http_client(transmitter.transport()))


def verify(token: str, keys: RiscKeys, *, registered: tuple[str, ...] = (CLIENT_ID,)) -> SecurityEventToken:
    return verify_security_event(
        token,
        keys=keys.key_set,
        issuer=ISSUER,
        audience_known=lambda aud: aud in registered,
        now=lambda: NOW,
    )


def token(**kwargs: Any) -> str:
    kwargs.setdefault("iat", NOW - 5)
    return make_set("tokens-revoked", iss_sub(SUB), **kwargs)


def refused(token_: str, keys: RiscKeys, **kwargs: Any) -> str:
    with pytest.raises(SecurityEventRefused) as caught:
        verify(token_, keys, **kwargs)
    return caught.value.reason


@pytest.fixture
def transmitter() -> Transmitter:
    return Transmitter()


@pytest.fixture
def keys(transmitter: Transmitter) -> RiscKeys:
    return keys_for(transmitter)


def test_given_a_token_signed_by_the_transmitter_when_verified_then_its_claims_and_events_come_back(keys):
    verified = verify(token(jti="jti-1"), keys)

    assert (verified.jti, verified.issuer, verified.audience, verified.issued_at) == (
        "jti-1",
        ISSUER,
        CLIENT_ID,
        int(NOW - 5),
    )
    ((uri, event),) = verified.events.items()
    assert uri.endswith("/oauth/event-type/tokens-revoked")
    assert event["subject"]["sub"] == SUB


def test_given_a_token_signed_by_another_key_under_the_kid_when_verified_then_refused_for_signature(
    keys,
):
    assert refused(token(key=signing_key("forger")), keys) == "signature"


def test_given_a_token_whose_payload_was_altered_when_verified_then_refused_for_its_signature(keys):
    head, _, sig = token().split(".")
    other_payload = token(aud="x").split(".")[1]

    assert refused(f"{head}.{other_payload}.{sig}", keys) == "signature"


def test_given_an_unknown_kid_when_verified_then_the_jwks_is_refetched_once_then_refused(transmitter, keys):
    verify(token(), keys)
    assert transmitter.jwks_fetches == 1

    assert refused(token(kid="unpublished"), keys) == "signature"
    assert transmitter.jwks_fetches == 2


def test_given_a_rotated_key_when_its_first_token_arrives_then_one_refetch_picks_it_up(transmitter, keys):
    verify(token(), keys)
    transmitter.published = [KID, "risc-key-2"]

    assert verify(token(kid="risc-key-2"), keys).audience == CLIENT_ID
    assert transmitter.jwks_fetches == 2


def test_given_several_tokens_when_verified_then_configuration_and_jwks_are_fetched_once(transmitter, keys):
    for _ in range(3):
        verify(token(), keys)

    assert (transmitter.configuration_fetches, transmitter.jwks_fetches) == (1, 1)


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256"])
def test_given_another_algorithm_when_verified_then_refused_before_any_key_is_used(alg, transmitter, keys):
    head = {"HS256": "eyJhbGciOiJIUzI1NiIsImtpZCI6InJpc2Mta2V5LTEifQ", "none": "eyJhbGciOiJub25lIn0"}.get(
        alg, "eyJhbGciOiJFUzI1NiIsImtpZCI6InJpc2Mta2V5LTEifQ"
    )
    forged = f"{head}.{token().split('.')[1]}.c2ln"

    assert refused(forged, keys) == "algorithm"
    assert transmitter.jwks_fetches == 0


def test_given_an_audience_no_tenant_registered_when_verified_then_refused(keys):
    assert refused(token(aud="unregistered.apps.googleusercontent.com"), keys) == "audience"


def test_given_audiences_naming_two_registered_clients_when_verified_then_refused_as_ambiguous(keys):
    other = "other.apps.googleusercontent.com"

    assert refused(token(aud=[CLIENT_ID, other]), keys, registered=(CLIENT_ID, other)) == "audience"


def test_given_another_issuer_when_verified_then_refused(keys):
    assert refused(token(iss="https://accounts.google.com/"), keys) == "issuer"


def test_given_iat_older_than_an_hour_when_verified_then_refused_as_stale_and_just_inside_accepted(keys):
    assert refused(token(iat=NOW - MAX_AGE_SECONDS - 1), keys) == "stale"
    assert verify(token(iat=NOW - MAX_AGE_SECONDS + 1), keys).jti


def test_given_iat_in_the_future_beyond_the_skew_when_verified_then_refused_and_within_it_accepted(keys):
    assert refused(token(iat=NOW + CLOCK_SKEW_SECONDS + 1), keys) == "future"
    assert verify(token(iat=NOW + CLOCK_SKEW_SECONDS - 1), keys).jti


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"drop": ("jti",)}, "claims"),
        ({"claims": {"jti": ""}}, "claims"),
        ({"claims": {"jti": "x" * 257}}, "claims"),
        ({"drop": ("iat",)}, "claims"),
        ({"claims": {"iat": "yesterday"}}, "claims"),
        ({"drop": ("events",)}, "claims"),
        ({"claims": {"events": {}}}, "claims"),
        ({"claims": {"events": {"https://schemas.openid.net/x": "not an object"}}}, "claims"),
        ({"drop": ("aud",)}, "audience"),
        ({"drop": ("iss",)}, "issuer"),
    ],
)
def test_given_a_missing_or_malformed_claim_when_verified_then_refused(keys, change, reason):
    assert refused(token(**change), keys) == reason


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c.d", "!!!.e30.c2ln", "W10.e30.c2ln"])
def test_given_a_body_that_is_no_compact_jws_when_verified_then_refused_as_malformed(keys, garbage):
    assert refused(garbage, keys) == "malformed"


def test_given_a_configuration_of_another_issuer_when_loading_keys_then_they_are_unavailable(
    transmitter,
):
    transmitter.issuer = "https://evil.example/"

    with pytest.raises(RiscKeysUnavailable):
        verify(token(), keys_for(transmitter))
    assert transmitter.jwks_fetches == 0


def test_given_the_transmitter_down_at_the_first_token_when_verified_then_keys_are_unavailable(transmitter):
    transmitter.down = True

    with pytest.raises(RiscKeysUnavailable):
        verify(token(), keys_for(transmitter))


def test_given_keys_loaded_when_the_transmitter_is_down_at_expiry_then_the_last_keys_still_verify(
    transmitter,
):
    clock = [0.0]
    keys = RiscKeys(
        CONFIGURATION_URL,
        ISSUER,
        http_client(transmitter.transport()),
        ttl_seconds=60,
        clock=lambda: clock[0],
    )
    verify(token(), keys)
    transmitter.down = True
    clock[0] = 120.0

    assert verify(token(), keys).audience == CLIENT_ID


def test_given_a_transport_that_fails_when_loading_keys_then_unavailable_not_a_crash():
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    keys = RiscKeys(CONFIGURATION_URL, ISSUER, http_client(httpx.MockTransport(fail)))

    with pytest.raises(RiscKeysUnavailable):
        verify(token(), keys)


def test_given_the_real_clock_when_a_fresh_token_is_verified_then_the_default_now_accepts_it(keys):
    fresh = make_set("tokens-revoked", iss_sub(SUB), iat=time.time())

    assert (
        verify_security_event(
            fresh, keys=keys.key_set, issuer=ISSUER, audience_known=lambda aud: aud == CLIENT_ID
        ).audience
        == CLIENT_ID
    )
