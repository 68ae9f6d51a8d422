import time

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from oauth_broker.auth.authorizer import RequestAuthorizer
from oauth_broker.auth.jwks import JwksCache
from oauth_broker.auth.jwt import JwtVerifier
from oauth_broker.config import BrokerConfig
from oauth_broker.store.models import ApiKeyRecord

KEY = ECKey.generate_key("P-256", parameters={"kid": "k"})
CONFIG = BrokerConfig(
    table_name="t-1",
    kms_key_id="k",
    event_bus_name="b",
    jwt_issuer="https://idp.example.com",
    jwt_audience="broker",
    jwks_url="https://idp.example.com/jwks",
)


class FakeApiKeys:
    """Stands in for ApiKeyStore.lookup: the keys that exist, by their full value."""

    def __init__(self, keys: dict[str, ApiKeyRecord]):
        self.keys = keys

    def lookup(self, key: str) -> ApiKeyRecord | None:
        return self.keys.get(key)


def record(tenant: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        id="key_1", tenant=tenant, name="backend", key_hash="h", key_hint="…", created_at="x", created_by="a"
    )


def authorizer(keys: dict[str, ApiKeyRecord] | None = None) -> RequestAuthorizer:
    jwks = {"keys": [KEY.as_dict(private=False)]}
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=jwks)))
    verifier = JwtVerifier(
        issuer=CONFIG.jwt_issuer, audience=CONFIG.jwt_audience, jwks=JwksCache(CONFIG.jwks_url, http)
    )
    return RequestAuthorizer(CONFIG, verifier, FakeApiKeys(keys or {}))  # type: ignore[arg-type]


def bearer(**claims) -> dict:
    now = int(time.time())
    base = {"iss": CONFIG.jwt_issuer, "aud": "broker", "sub": "alice", "tenant": "acme", "exp": now + 60}
    token = jwt.encode({"alg": "ES256", "kid": "k"}, {**base, **claims}, KEY)
    return {"headers": {"authorization": f"Bearer {token}"}}


def test_given_a_member_jwt_when_authorized_then_the_context_names_tenant_and_user_without_admin():
    decision = authorizer().decide(bearer())
    assert decision == {
        "isAuthorized": True,
        "context": {"tenant": "acme", "user": "alice", "is_admin": False, "via": "jwt", "key_id": ""},
    }


def test_given_the_admin_group_in_the_groups_claim_when_authorized_then_the_caller_is_admin():
    assert authorizer().decide(bearer(groups=["staff", "broker-admin"]))["context"]["is_admin"] is True


def test_given_a_jwt_without_the_tenant_claim_when_authorized_then_it_is_denied():
    assert authorizer().decide(bearer(tenant=None)) == {"isAuthorized": False}


def test_given_a_basic_credential_when_authorized_then_it_is_denied():
    assert authorizer().decide({"headers": {"authorization": "Basic YTpi"}}) == {"isAuthorized": False}


def test_given_an_unknown_api_key_when_authorized_then_it_is_denied():
    assert authorizer().decide({"headers": {"authorization": "Bearer obk_unknown"}}) == {
        "isAuthorized": False
    }


def test_given_a_revoked_api_key_when_authorized_then_it_is_denied():
    keys = {"obk_live": record("acme")}
    az = authorizer(keys)
    assert az.decide({"headers": {"authorization": "Bearer obk_live"}})["isAuthorized"] is True
    del keys["obk_live"]  # revocation deletes the record
    assert az.decide({"headers": {"authorization": "Bearer obk_live"}}) == {"isAuthorized": False}


def test_given_an_api_key_when_authorized_then_it_acts_for_its_own_tenant_as_admin_whatever_else_is_sent():
    az = authorizer({"obk_globex": record("globex")})
    decision = az.decide({"headers": {"authorization": "Bearer obk_globex", "x-tenant": "acme"}})
    assert decision["context"]["tenant"] == "globex"
    assert decision["context"]["is_admin"] is True
    assert decision["context"]["via"] == "api_key"
