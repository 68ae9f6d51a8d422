"""ID token verification: signature against the JWKS, iss, aud/azp, exp, nonce, algorithm."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from oauth_broker.auth.jwks import JwksCache
from oauth_broker.oauth.id_token import InvalidIdToken, verify_id_token

ISSUER = "https://accounts.google.com"
CLIENT = "client-1.apps.googleusercontent.com"
NONCE = "n-0123456789abcdef"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": CLIENT,
        "azp": CLIENT,
        "sub": "1098765",
        "email": "alice@example.com",
        "iat": now,
        "exp": now + 3600,
        "nonce": NONCE,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: RSAKey, body: dict[str, Any], alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key)


def verify(token: str, key: RSAKey, **kwargs: Any) -> dict[str, Any]:
    public = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    options: dict[str, Any] = {
        "keys": lambda kid: public,
        "issuer": ISSUER,
        "client_id": CLIENT,
        "nonce": NONCE,
    }
    options.update(kwargs)
    return verify_id_token(token, **options)


def reason(token: str, key: RSAKey, **kwargs: Any) -> str:
    with pytest.raises(InvalidIdToken) as err:
        verify(token, key, **kwargs)
    return err.value.reason


def test_given_a_token_signed_by_the_provider_when_verified_then_its_claims_come_back(key):
    assert verify(sign(key, claims()), key)["sub"] == "1098765"


def test_given_googles_short_issuer_spelling_when_verified_then_it_is_accepted(key):
    assert verify(sign(key, claims(iss="accounts.google.com")), key)["sub"] == "1098765"


def test_given_a_token_signed_by_another_key_with_the_same_kid_when_verified_then_the_signature_is_refused(
    key, other_key
):
    assert reason(sign(other_key, claims()), key) == "signature"


def test_given_a_tampered_payload_when_verified_then_the_signature_is_refused(key):
    token = sign(key, claims())
    forged = sign(key, claims(sub="attacker"))
    head, _, sig = token.split(".")
    assert reason(f"{head}.{forged.split('.')[1]}.{sig}", key) == "signature"


def test_given_another_issuer_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(iss="https://evil.example")), key) == "issuer"


def test_given_another_audience_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(aud="someone-else", azp=None)), key) == "audience"


def test_given_several_audiences_and_azp_of_another_client_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(aud=[CLIENT, "other"], azp="other")), key) == "audience"


def test_given_an_expired_token_when_verified_then_it_is_refused(key):
    old = int(time.time()) - 7200
    assert reason(sign(key, claims(iat=old, exp=old + 3600)), key) == "expired"


def test_given_a_token_expired_within_the_leeway_when_verified_then_it_is_accepted(key):
    now = int(time.time())
    assert verify(sign(key, claims(iat=now - 3600, exp=now - 30)), key)


def test_given_another_nonce_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(nonce="replayed-nonce")), key) == "nonce"


def test_given_no_nonce_in_the_token_when_one_was_sent_then_it_is_refused(key):
    assert reason(sign(key, claims(nonce=None)), key) == "nonce"


def test_given_no_sub_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(sub=None)), key) == "claims"


def test_given_an_unsigned_token_when_verified_then_the_algorithm_is_refused(key):
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}."
    assert reason(token, key) == "algorithm"


def test_given_an_hmac_token_keyed_with_public_material_when_verified_then_the_algorithm_is_refused(key):
    hmac_key = OctKey.import_key(b"0" * 32)
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(), hmac_key)
    assert reason(token, key) == "algorithm"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "!!.??.**"])
def test_given_garbage_when_verified_then_it_is_malformed_or_refused(key, token):
    assert reason(token, key) in {"malformed", "signature"}


def test_given_a_key_rotation_when_a_token_has_an_unknown_kid_then_the_jwks_is_fetched_once_more(key):
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256", "use": "sig"})
    published = [key]
    fetches: list[int] = []

    def jwks(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in published]})

    cache = JwksCache(
        "https://idp.test/jwks", httpx.Client(transport=httpx.MockTransport(jwks)), min_refetch_seconds=0
    )
    assert verify(sign(key, claims()), key, keys=cache.key_set)
    assert len(fetches) == 1
    published.append(new_key)
    assert verify(sign(new_key, claims()), new_key, keys=cache.key_set)["sub"] == "1098765"
    assert len(fetches) == 2
    assert verify(sign(new_key, claims()), new_key, keys=cache.key_set)
    assert len(fetches) == 2  # known now: no further fetch


def test_given_an_unreachable_jwks_when_verified_then_the_keys_are_unavailable(key):
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    cache = JwksCache("https://idp.test/jwks", httpx.Client(transport=httpx.MockTransport(down)))
    assert reason(sign(key, claims()), key, keys=cache.key_set) == "keys_unavailable"


# -- each check by its own reason --


def test_given_a_refusal_then_its_message_is_its_reason():
    assert str(InvalidIdToken("nonce")) == "nonce"


def test_given_an_issuer_without_aliases_when_verified_then_exactly_that_issuer_is_accepted(key):
    from oauth_broker.oauth.id_token import accepted_issuers

    assert accepted_issuers("https://idp.test") == ("https://idp.test",)
    assert (
        verify(sign(key, claims(iss="https://idp.test")), key, issuer="https://idp.test")["sub"] == "1098765"
    )


@pytest.mark.parametrize("token", [None, b"a.b.c", "a.b", "a.b.c.d", "!!.b.c"])
def test_given_something_that_is_not_a_compact_jws_when_verified_then_it_is_malformed(key, token):
    assert reason(token, key) == "malformed"


def test_given_a_kid_that_is_not_a_string_when_the_keys_are_asked_for_then_no_kid_is_passed(key):
    asked: list[Any] = []
    public = KeySet([RSAKey.import_key(key.as_dict(private=False))])

    def keys(kid: str | None) -> KeySet:
        asked.append(kid)
        return public

    import base64
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (
        f"{b64(json.dumps({'alg': 'RS256', 'kid': 5}).encode())}.{b64(json.dumps(claims()).encode())}"
    )
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with contextlib.suppress(InvalidIdToken):  # joserfc may refuse the header: only the lookup counts
        verify(f"{signing_input}.{b64(signature)}", key, keys=keys)

    assert asked == [None]


def test_given_a_kid_the_key_set_does_not_hold_when_verified_then_the_signature_is_refused(key):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k9", "alg": "RS256", "use": "sig"})

    assert reason(sign(stranger, claims()), key) == "signature"


@pytest.mark.parametrize("alg", ["RS384", "PS256"])
def test_given_a_token_signed_with_another_allowed_algorithm_when_verified_then_it_is_accepted(alg):
    any_alg_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    token = jwt.encode({"alg": alg, "kid": "k1"}, claims(), any_alg_key, algorithms=[alg])

    assert verify(token, any_alg_key)["sub"] == "1098765"


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ({"iss": None}, "issuer"),
        ({"aud": None, "azp": None}, "audience"),
        ({"exp": None}, "claims"),
        ({"iat": None}, "claims"),
        ({"iss": None, "aud": None, "azp": None}, "issuer"),
    ],
)
def test_given_a_token_without_an_essential_claim_when_verified_then_it_is_refused_with_that_claims_reason(
    key, missing, expected
):
    assert reason(sign(key, claims(**missing)), key) == expected


def test_given_a_token_not_yet_valid_when_verified_then_the_claims_are_refused(key):
    assert reason(sign(key, claims(nbf=int(time.time()) + 3600)), key) == "claims"


def test_given_a_clock_when_verified_then_expiry_is_judged_by_that_clock(key):
    token = sign(key, claims())

    assert reason(token, key, now=lambda: int(time.time()) + 7200) == "expired"


@pytest.mark.parametrize("aud", [CLIENT, [CLIENT]])
def test_given_one_audience_and_no_azp_when_verified_then_it_is_accepted(key, aud):
    assert verify(sign(key, claims(aud=aud, azp=None)), key)["sub"] == "1098765"


def test_given_several_audiences_and_no_azp_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(aud=[CLIENT, "other"], azp=None)), key) == "audience"


def test_given_several_audiences_and_azp_of_this_client_when_verified_then_it_is_accepted(key):
    assert verify(sign(key, claims(aud=[CLIENT, "other"], azp=CLIENT)), key)["sub"] == "1098765"


def test_given_one_audience_and_azp_of_another_client_when_verified_then_it_is_refused(key):
    assert reason(sign(key, claims(aud=CLIENT, azp="other")), key) == "audience"


def test_given_no_nonce_was_sent_when_the_token_carries_none_then_it_is_accepted_and_any_is_refused(
    key,
):
    assert verify(sign(key, claims(nonce=None)), key, nonce=None)["sub"] == "1098765"
    assert reason(sign(key, claims()), key, nonce=None) == "nonce"
