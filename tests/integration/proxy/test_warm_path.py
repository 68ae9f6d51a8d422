"""A warm proxied request costs one DynamoDB read (the connection) and no KMS call; recording the
connection's use adds one UpdateItem an hour; a concurrency level adds only the semaphore's acquire
and release writes; no authlib/joserfc on the way."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from brokertest.tokens import AwsCallCounter, FakeClock
from oauth_broker.tokens.refresher import TokenRefresher

PROFILE = "gmail/v1/users/me/profile"
REPO = Path(__file__).resolve().parents[3]


def counted(pw, rec) -> tuple[int, dict[str, int], dict[str, int]]:
    dynamodb, kms = AwsCallCounter(pw.services.dynamodb), AwsCallCounter(pw.services.kms)
    try:
        status = pw.proxy(rec, PROFILE).status_code
    finally:
        dynamodb.detach()
        kms.detach()
    return status, dict(dynamodb.calls), dict(kms.calls)


def test_given_a_warm_container_when_a_request_is_proxied_then_it_costs_one_getitem_and_no_kms_call(pw):
    rec = pw.connect(["gmail.readonly"])
    cold_status, _, cold_kms = counted(pw, rec)
    assert cold_status == 200 and cold_kms  # the first call decrypted the access token

    status, dynamodb, kms = counted(pw, rec)

    assert status == 200
    assert dynamodb == {"GetItem": 1}
    assert kms == {}


def test_given_many_warm_calls_when_an_hour_passes_then_last_used_at_costs_one_update_an_hour_and_no_kms(pw):
    # the container's refresher on an injected clock, half an hour behind the token's issue
    clock = FakeClock(start=time.time() - 1800)
    pw.services.singleton("tokens.refresher", lambda: TokenRefresher(pw.services, clock=clock))
    rec = pw.connect(["gmail.readonly"])
    first_status, first_dynamodb, _ = counted(pw, rec)
    assert first_status == 200 and first_dynamodb == {"GetItem": 1, "UpdateItem": 1}  # the use, recorded

    warm = [counted(pw, rec) for _ in range(10)]
    clock.advance(3600)  # an hour later the token is still fresh (it expires in 30 minutes)
    hourly = counted(pw, rec)
    after = counted(pw, rec)

    assert warm == [(200, {"GetItem": 1}, {})] * 10
    assert hourly == (200, {"GetItem": 1, "UpdateItem": 1}, {})
    assert after == (200, {"GetItem": 1}, {})
    stored = pw.services.connections.get(rec.id)
    assert stored is not None and stored.last_used_at == int(clock.time())
    assert stored.version == rec.version  # no version bump: the warm cache stays valid


def test_given_a_concurrency_level_when_a_warm_request_is_proxied_then_it_adds_one_acquire_and_one_release(
    pw,
):
    rec = pw.connect(["gmail.readonly"], concurrency_level=3)
    counted(pw, rec)

    status, dynamodb, kms = counted(pw, rec)

    assert status == 200
    assert dynamodb == {"GetItem": 1, "PutItem": 1, "DeleteItem": 1}
    assert kms == {}


SCRIPT = r"""
import base64, json, sys
import boto3, httpx
from moto import mock_aws

sys.path[:0] = [sys.argv[1] + "/layers/shared", sys.argv[1] + "/dev"]
with mock_aws():
    from oauth_broker_dev.aws_local import bootstrap
    from oauth_broker.config import BrokerConfig
    from oauth_broker.crypto.envelope import EncryptionContext
    from oauth_broker.services import Services, configure
    from oauth_broker.store.models import ConnectionRecord
    from oauth_broker.timeutil import now_epoch, rfc3339

    clients = [boto3.client(s, region_name="us-east-1") for s in ("dynamodb", "kms", "events")]
    res = bootstrap(*clients, table_name="warm", bus_name="warm")

    def google(request):
        assert request.headers["authorization"] == "Bearer ya29.token"
        return httpx.Response(200, json={"emailAddress": "alice@example.com"})

    config = BrokerConfig(table_name=res.table_name, kms_key_id=res.key_id, event_bus_name=res.bus_name,
                          jwt_issuer="https://idp.test", jwt_audience="broker", jwks_url="https://idp.test/jwks")
    services = Services(config, dynamodb=clients[0], kms=clients[1], events=clients[2],
                        http=httpx.Client(transport=httpx.MockTransport(google)))
    configure(services)
    now = rfc3339()
    ctx = EncryptionContext("acme", "con_warm", "access_token")
    services.connections.create(ConnectionRecord(
        id="con_warm", tenant="acme", owner="alice", name="n", provider="google-mail",
        oauth_client_id="ocl_x", account_email="alice@example.com",
        scopes_granted=["https://www.googleapis.com/auth/gmail.readonly"],
        created_at=now, updated_at=now, expires_at=now_epoch() + 3600,
        enc_access_token=services.envelope.encrypt(b"ya29.token", ctx), enc_refresh_token="x"))

    from oauth_broker_dev import lambda_runtime
    route = "ANY /v1/connections/{id}/proxy/{path+}"
    path = "/v1/connections/con_warm/proxy/gmail/v1/users/me/profile"
    principal = {"tenant": "acme", "user": "alice", "is_admin": False, "via": "jwt", "key_id": ""}
    event = {
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": {"accept": "application/json"},
        "pathParameters": {"id": "con_warm", "path": "gmail/v1/users/me/profile"},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default",
                           "requestId": "r1", "routeKey": route, "authorizer": {"lambda": principal}},
        "isBase64Encoded": False,
    }
    statuses = [lambda_runtime.invoke("proxy", dict(event))["statusCode"] for _ in range(2)]
    heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("authlib", "joserfc")})
    print(json.dumps({"statuses": statuses, "heavy": heavy}))
"""


def test_given_a_fresh_container_when_it_proxies_cold_and_warm_then_authlib_and_joserfc_stay_unloaded(
    tmp_path,
):
    env_script = tmp_path / "warm.py"
    env_script.write_text(SCRIPT)
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "OAuthBrokerTest",
        "POWERTOOLS_SERVICE_NAME": "oauth-broker",
    }

    out = subprocess.run(
        [sys.executable, str(env_script), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"statuses": [200, 200], "heavy": []}
