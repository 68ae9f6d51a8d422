import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from oauth_broker.auth.jwks import JwksCache
from oauth_broker.auth.jwt import InvalidToken, JwtVerifier

ISS, AUD = "https://idp.example.com", "broker"
SIGNER = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def verifier(keys=(SIGNER,)) -> JwtVerifier:
    jwks = {"keys": [k.as_dict(private=False) for k in keys]}
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=jwks)))
    return JwtVerifier(issuer=ISS, audience=AUD, jwks=JwksCache("https://idp.example.com/jwks", http))


def token(key=SIGNER, alg="RS256", **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "alice", "tenant": "acme", "iat": now, "exp": now + 300}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key)


def test_given_a_valid_token_when_verified_then_its_claims_come_back():
    assert verifier().verify(token())["sub"] == "alice"


def test_given_a_token_signed_by_another_key_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(key=OTHER))


def test_given_a_wrong_issuer_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(iss="https://evil.example.com"))


def test_given_a_wrong_audience_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(aud="someone-else"))


def test_given_an_expired_token_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(exp=int(time.time()) - 120))


def test_given_a_token_without_exp_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(exp=None))


def test_given_a_token_not_yet_valid_when_verified_then_it_is_rejected():
    with pytest.raises(InvalidToken):
        verifier().verify(token(nbf=int(time.time()) + 600))


def test_given_alg_none_when_verified_then_it_is_rejected():
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    now = int(time.time())
    unsigned = f"{b64({'alg': 'none'})}.{b64({'iss': ISS, 'aud': AUD, 'sub': 'x', 'exp': now + 60})}."
    with pytest.raises(InvalidToken, match="not allowed"):
        verifier().verify(unsigned)


def test_given_an_hmac_token_keyed_with_the_public_key_when_verified_then_it_is_rejected():
    # algorithm confusion: HS256 "signed" with the RSA public key material
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = b64(json.dumps({"iss": ISS, "aud": AUD, "sub": "x", "exp": now + 60}).encode())
    mac = hmac.new(SIGNER.as_pem(private=False), f"{head}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{head}.{body}.{b64(mac)}"
    with pytest.raises(InvalidToken, match="not allowed"):
        verifier().verify(forged)


def test_given_an_es256_token_when_the_jwks_holds_its_key_then_it_verifies():
    ec = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    assert verifier(keys=(ec,)).verify(token(key=ec, alg="ES256"))["tenant"] == "acme"


def test_given_an_unknown_kid_when_verified_then_the_jwks_is_refetched_once():
    calls = []
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    sets = [{"keys": [SIGNER.as_dict(private=False)]}, {"keys": [rotated.as_dict(private=False)]}]

    def respond(request):
        calls.append(1)
        return httpx.Response(200, json=sets[min(len(calls) - 1, 1)])

    cache = JwksCache(
        "https://idp/jwks", httpx.Client(transport=httpx.MockTransport(respond)), min_refetch_seconds=0
    )
    v = JwtVerifier(issuer=ISS, audience=AUD, jwks=cache)
    v.verify(token())
    now = int(time.time())
    rotated_token = jwt.encode(
        {"alg": "RS256", "kid": "k2"}, {"iss": ISS, "aud": AUD, "sub": "bob", "exp": now + 60}, rotated
    )
    assert v.verify(rotated_token)["sub"] == "bob"
    assert len(calls) == 2


# -- each guard by its own message --


def test_given_headers_of_every_base64url_length_when_read_then_the_padding_is_restored() -> None:
    from oauth_broker.auth.jwt import _header

    for header in ({"a": 1}, {"a": 12}, {"a": 123}, {"alg": "RS256", "kid": "k1"}):
        encoded = (
            base64.urlsafe_b64encode(json.dumps(header, separators=(",", ":")).encode()).decode().rstrip("=")
        )
        assert _header(f"{encoded}.body.sig") == header, encoded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a.b", "not a compact JWS"),
        ("a.b.c.d", "not a compact JWS"),
        ("!!.b.c", "malformed token"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "algorithm 'HS256' not allowed"),
    ],
)
def test_given_a_token_that_one_guard_refuses_when_verified_then_the_message_is_that_guards_own(raw, message):
    with pytest.raises(InvalidToken) as caught:
        verifier().verify(raw)

    assert str(caught.value) == message


@pytest.mark.parametrize("claim", ["iss", "aud", "sub"])
def test_given_a_token_without_an_essential_claim_when_verified_then_it_is_rejected_by_the_claims_check(
    claim,
):
    with pytest.raises(InvalidToken) as caught:
        verifier().verify(token(**{claim: None}))

    assert str(caught.value) == "rejected: MissingClaimError"


def test_given_a_token_expired_within_the_default_leeway_when_verified_then_it_is_accepted():
    assert verifier().leeway == 30
    assert verifier().verify(token(exp=int(time.time()) - 10))["sub"] == "alice"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
def test_given_a_token_signed_with_another_allowed_rsa_algorithm_when_verified_then_it_verifies(alg):
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "alice", "exp": now + 300}
    signed = jwt.encode({"alg": alg, "kid": "k1"}, claims, SIGNER, algorithms=[alg])

    assert verifier().verify(signed)["sub"] == "alice"
