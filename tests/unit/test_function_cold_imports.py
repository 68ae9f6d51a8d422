"""What a function's cold start imports: only what the requests it serves need.

The proxy serves its raw route without Powertools' resolver (`routes.proxy_gateway`); the api
and callback functions import a route group at its first request (`http.route_table`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {
    "PATH": "/usr/bin:/bin",
    "PYTHONPATH": str(REPO / "layers" / "shared"),
    "TABLE_NAME": "cold-table",
    "KMS_KEY_ID": "alias/cold",
    "EVENT_BUS_NAME": "cold",
    "JWT_ISSUER": "https://idp.example.com",
    "JWT_AUDIENCE": "broker",
    "JWKS_URL": "https://idp.example.com/jwks",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold",
    "AWS_SECRET_ACCESS_KEY": "cold",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "OAuthBrokerTest",
    "POWERTOOLS_SERVICE_NAME": "oauth-broker",
}
SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", "functions/{name}/app.py")
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_init(name: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(name=name)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_given_the_proxy_function_when_initialised_then_powertools_resolver_and_typed_routes_stay_unloaded():
    loaded = modules_after_init("proxy")

    assert "oauth_broker.routes.proxy_gateway" in loaded
    assert (
        not {
            "aws_lambda_powertools.event_handler",
            "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
            "oauth_broker.http.resolver",
            "oauth_broker.routes.gmail",
            "oauth_broker.routes.contacts",
            "oauth_broker.gmail.models",
        }
        & loaded
    )


@pytest.mark.parametrize(
    ("name", "unloaded"),
    [
        ("api", {"oauth_broker.routes.connect_sessions", "oauth_broker.routes.connections", "yaml"}),
        ("callback", {"oauth_broker.routes.oauth_flow", "oauth_broker.routes.connect_confirm"}),
    ],
)
def test_given_a_function_of_route_groups_when_initialised_then_no_groups_route_modules_are_loaded(
    name: str, unloaded: set[str]
):
    loaded = modules_after_init(name)

    assert "oauth_broker.http.route_table" in loaded
    assert not unloaded & loaded
