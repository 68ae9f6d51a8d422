"""The Pub/Sub push's OIDC token (oauth_broker.gmail_push.verify): Google ID tokens signed in the
test with local RSA keys. Each check refuses with its own reason, and a verified token authorizes
exactly the tenant whose gmail_push settings carry its `aud` and `email`."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from oauth_broker.gmail_push.verify import (
    CLOCK_SKEW_SECONDS,
    PushToken,
    PushTokenRefused,
    verify_push_token,
)
from oauth_broker.store.models import GmailPushConfig

NOW = 1_800_000_000.0
ISSUERS = ("https://accounts.google.com", "accounts.google.com")
AUDIENCE = "https://broker.example/v1/google/gmail-push"
SERVICE_ACCOUNT = "gmail-push@acme-prod.iam.gserviceaccount.com"
CONFIG = GmailPushConfig(
    topic="projects/acme-prod/topics/gmail", push_audience=AUDIENCE, push_service_account=SERVICE_ACCOUNT
)


@cache
def key(kid: str = "google-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def google_keys(kid: str | None) -> KeySet:
    return KeySet([key("google-1")])


def push_token(
    *, signer: RSAKey | None = None, alg: str = "RS256", drop: tuple[str, ...] = (), **claims: Any
) -> str:
    payload: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "azp": "112233445566778899",
        "sub": "112233445566778899",
        "email": SERVICE_ACCOUNT,
        "email_verified": True,
        "iat": int(NOW - 10),
        "exp": int(NOW + 3590),
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    signing = signer or key("google-1")
    return jwt.encode({"alg": alg, "kid": signing.kid, "typ": "JWT"}, payload, signing, algorithms=[alg])


def verify(token: str) -> PushToken:
    return verify_push_token(token, keys=google_keys, issuers=ISSUERS, now=lambda: NOW)


def refused(token: str) -> str:
    with pytest.raises(PushTokenRefused) as caught:
        verify(token)
    return caught.value.reason


def test_given_googles_push_token_when_verified_then_its_audience_and_service_account_are_read():
    verified = verify(push_token())

    assert verified == PushToken(
        audience=AUDIENCE, email=SERVICE_ACCOUNT, email_verified=True, expires_at=int(NOW + 3590)
    )
    assert verified.authorizes(CONFIG)


def test_given_either_issuer_google_uses_when_verified_then_both_are_accepted():
    assert verify(push_token(iss="accounts.google.com")).audience == AUDIENCE


def test_given_a_token_signed_by_another_key_when_verified_then_the_signature_is_refused():
    assert refused(push_token(signer=key("attacker"))) == "signature"


def test_given_a_token_whose_payload_was_altered_when_verified_then_the_signature_is_refused():
    head, _, rest = push_token().partition(".")
    forged = push_token(aud="https://evil.example/")
    assert refused(f"{head}.{forged.split('.')[1]}.{rest.split('.')[1]}") == "signature"


def test_given_an_hmac_or_unsigned_token_when_verified_then_the_algorithm_is_refused():
    shared = OctKey.import_key("a-shared-secret-of-enough-length-32b")
    hmac = jwt.encode({"alg": "HS256"}, {"aud": AUDIENCE}, shared, algorithms=["HS256"])
    assert refused(hmac) == "algorithm"
    assert refused("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.") == "algorithm"


def test_given_garbage_when_verified_then_it_is_malformed():
    assert refused("not-a-token") == "malformed"
    assert refused("a.b.c") == "malformed"


def test_given_another_issuer_when_verified_then_it_is_refused():
    assert refused(push_token(iss="https://evil.example")) == "issuer"


def test_given_an_expired_token_when_verified_then_it_is_refused_beyond_the_clock_skew():
    assert refused(push_token(exp=int(NOW - CLOCK_SKEW_SECONDS - 1))) == "expired"
    assert verify(push_token(exp=int(NOW - CLOCK_SKEW_SECONDS + 5))).audience == AUDIENCE


def test_given_a_token_issued_in_the_future_when_verified_then_it_is_refused():
    assert refused(push_token(iat=int(NOW + CLOCK_SKEW_SECONDS + 10))) == "future"


@pytest.mark.parametrize("claim", ["exp", "aud", "email"])
def test_given_a_token_without_a_required_claim_when_verified_then_it_is_refused(claim: str):
    assert refused(push_token(drop=(claim,))) == "claims"


def test_given_a_verified_token_when_matched_against_settings_then_aud_email_and_verification_must_all_hold():
    other_account = GmailPushConfig(
        topic=CONFIG.topic,
        push_audience=AUDIENCE,
        push_service_account="someone@evil-proj.iam.gserviceaccount.com",
    )
    other_audience = GmailPushConfig(
        topic=CONFIG.topic, push_audience="https://other.example/push", push_service_account=SERVICE_ACCOUNT
    )

    assert not verify(push_token()).authorizes(other_account)
    assert not verify(push_token()).authorizes(other_audience)
    assert not verify(push_token()).authorizes(None)
    assert not verify(push_token(email_verified=False)).authorizes(CONFIG)
    assert verify(push_token(email=SERVICE_ACCOUNT.upper())).authorizes(CONFIG)


def test_given_the_real_clock_when_a_fresh_token_is_verified_then_it_passes():
    fresh = push_token(iat=int(time.time()), exp=int(time.time()) + 3600)
    assert verify_push_token(fresh, keys=google_keys, issuers=ISSUERS).email == SERVICE_ACCOUNT
