"""Benchmark: the proxy's overhead on loopback, and the proxy function's cold init.

    .venv/bin/python bench/bench_proxy.py [--requests 300] [--runs 5]

1. Overhead. `make dev`'s server (`LocalBroker`: the gateway emulation, the authorizer with its
   cache, the real proxy handler, moto's DynamoDB and KMS server, the fake Google) on 127.0.0.1.
   In one run, interleaved: the same Gmail `users.getProfile` request sent directly to the fake
   Google (with the Google token) and through the broker's proxy (with a broker JWT), after a
   warm-up; plus a bare DynamoDB GetItem of the connection against the same moto server (the one
   round trip a warm proxied request makes), and a proxied request the broker refuses right after
   that GetItem (no upstream call: the broker's own cost). Median and p99 of each; the overhead is
   proxied - direct, and what is left after the GetItem round trip.
2. Cold init. A fresh interpreter importing functions/proxy/app.py (with the function's
   environment) and creating the DynamoDB and KMS clients, against the boto3 floor
   `python -c "import boto3; boto3.client('dynamodb'); boto3.client('kms')"`: wall time and CPU
   time, median of --runs each, same machine, same run. A third line adds what the first request
   pays on top (the provider catalog and the scope table, loaded on first use).

A script, not a test: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT / "dev")]

ALICE = "alice@example.com"
PROFILE = "gmail/v1/users/me/profile"


# -- 1. overhead -----------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _seed(broker: Any) -> tuple[str, str]:
    """A connection of the fake's Alice with gmail.readonly: (connection id, Google access token)."""
    from oauth_broker.crypto.envelope import EncryptionContext
    from oauth_broker.ids import new_id
    from oauth_broker.services import get_services
    from oauth_broker.store.models import ConnectionRecord
    from oauth_broker.timeutil import now_epoch, rfc3339

    services = get_services()
    scopes = services.catalog.normalize_scopes("google-mail", ["gmail.readonly"])
    tokens = broker.fake_google.issue_tokens(ALICE, scopes, client_id="bench-client")
    con_id, now = new_id("con"), rfc3339()

    def seal(value: str, purpose: str) -> str:
        return services.envelope.encrypt(value.encode(), EncryptionContext("bench", con_id, purpose))

    services.connections.create(
        ConnectionRecord(
            id=con_id,
            tenant="bench",
            owner="bench-user",
            name="bench",
            provider="google-mail",
            oauth_client_id="ocl_bench",
            account_email=ALICE,
            scopes_requested=scopes,
            scopes_granted=list(scopes),
            created_at=now,
            updated_at=now,
            expires_at=now_epoch() + 3600,
            enc_access_token=seal(tokens["access_token"], "access_token"),
            enc_refresh_token=seal(tokens["refresh_token"], "refresh_token"),
        )
    )
    return con_id, tokens["access_token"]


def overhead(requests: int) -> None:
    import logging

    import httpx

    from oauth_broker.services import get_services
    from oauth_broker_dev import devidp
    from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    with tempfile.TemporaryDirectory() as state:
        os.environ["BROKER_STATE_DIR"] = state
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        broker = LocalBroker(LocalBrokerOptions(port=0)).start()
        try:
            con_id, google_token = _seed(broker)
            jwt = devidp.mint("bench", "bench-user")
            direct_url = f"{broker.base_url}/fake-google/{PROFILE}"
            proxied_url = f"{broker.base_url}/v1/connections/{con_id}/proxy/{PROFILE}"
            refused_url = f"{broker.base_url}/v1/connections/{con_id}/proxy/gmail/v1/users/me/no-such-method"
            services = get_services()
            key = {"pk": {"S": f"CON#{con_id}"}, "sk": {"S": "CON"}}
            times: dict[str, list[float]] = {"direct": [], "proxied": [], "refused": [], "getitem": []}
            with httpx.Client(timeout=10) as http:

                def direct() -> None:
                    r = http.get(direct_url, headers={"Authorization": f"Bearer {google_token}"})
                    assert r.status_code == 200, r.text

                def proxied() -> None:
                    r = http.get(proxied_url, headers={"Authorization": f"Bearer {jwt}"})
                    assert r.status_code == 200, r.text

                def refused() -> None:
                    r = http.get(refused_url, headers={"Authorization": f"Bearer {jwt}"})
                    assert r.status_code == 400, r.text

                def getitem() -> None:
                    item = services.dynamodb.get_item(
                        TableName=services.config.table_name, Key=key, ConsistentRead=True
                    )
                    assert "Item" in item

                calls = {"direct": direct, "proxied": proxied, "refused": refused, "getitem": getitem}
                for _ in range(20):  # warm-up: connections, token cache, resolvers, authorizer cache
                    for call in calls.values():
                        call()
                for _ in range(requests):
                    for name, call in calls.items():
                        started = time.perf_counter()
                        call()
                        times[name].append((time.perf_counter() - started) * 1000)
        finally:
            broker.stop()

    print(
        f"\nproxy overhead on loopback, ms ({requests} requests each, interleaved, after 20 warm-up rounds)"
    )
    print(f"| {'request':<44} | {'median':>7} | {'p99':>7} |")
    rows = [
        ("direct to the fake Google (users.getProfile)", times["direct"]),
        ("through the broker's proxy (same call)", times["proxied"]),
        ("broker only: refused after the GetItem", times["refused"]),
        ("DynamoDB GetItem of the connection (moto)", times["getitem"]),
    ]
    for label, values in rows:
        print(f"| {label:<44} | {statistics.median(values):7.2f} | {_percentile(values, 0.99):7.2f} |")
    extra = statistics.median(times["proxied"]) - statistics.median(times["direct"])
    beyond = extra - statistics.median(times["getitem"])
    median = {name: statistics.median(values) for name, values in times.items()}
    own = median["refused"] - median["getitem"] - median["direct"]
    hop = median["proxied"] - median["refused"]
    print(f"overhead at the median: {extra:.2f} ms = one GetItem round trip + {beyond:.2f} ms, of which")
    print(f"  the broker's own work (gateway, authorizer cache, handler, checks): {own:.2f} ms")
    print(f"  its request to the provider, a second HTTP hop a direct call does not make: {hop:.2f} ms")


# -- 2. cold init ----------------------------------------------------------------------------------
FLOOR = "import boto3; boto3.client('dynamodb'); boto3.client('kms')"
INIT = """
import importlib.util
spec = importlib.util.spec_from_file_location("app", "functions/proxy/app.py")
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
from oauth_broker.services import get_services
s = get_services(); s.dynamodb; s.kms
"""
FIRST_REQUEST = (
    INIT
    + """
from oauth_broker.proxy.service import proxy_service
service = proxy_service(s); s.catalog.get("google-mail"); service.method_table
"""
)
ENV = {
    "TABLE_NAME": "bench-table",
    "KMS_KEY_ID": "alias/bench",
    "EVENT_BUS_NAME": "bench",
    "JWT_ISSUER": "https://idp.example.com",
    "JWT_AUDIENCE": "broker",
    "JWKS_URL": "https://idp.example.com/jwks",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "oauth-broker",
    "POWERTOOLS_METRICS_NAMESPACE": "OAuthBroker",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "PYTHONPATH": str(ROOT / "layers" / "shared"),
}


def _run(code: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of a fresh interpreter running `code`."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(ENV)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def cold_init(runs: int) -> None:
    codes = {"boto3 floor": FLOOR, "proxy function init": INIT, "init + first request's loads": FIRST_REQUEST}
    for code in codes.values():
        _run(code)  # warm the OS page cache and .pyc files, not measured
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    for _ in range(runs):  # interleaved, so load changes hit every line alike
        for name, code in codes.items():
            samples[name].append(_run(code))
    floor_wall = statistics.median(w for w, _ in samples["boto3 floor"])
    floor_cpu = statistics.median(c for _, c in samples["boto3 floor"])
    print(f"\ncold init, ms, median of {runs} ({sys.executable} {sys.version.split()[0]})")
    print(f"| {'what':<30} | {'wall':>7} | {'x floor':>7} | {'cpu':>7} | {'x floor':>7} |")
    for name, values in samples.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(
            f"| {name:<30} | {wall:7.1f} | {wall / floor_wall:7.2f} | {cpu:7.1f} | {cpu / floor_cpu:7.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    overhead(args.requests)
    cold_init(args.runs)


if __name__ == "__main__":
    main()
