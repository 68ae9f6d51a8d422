"""ID token verification: signature against the JWKS, iss, aud/azp, exp, nonce, algorithm."""

from __future__ import annotations

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
