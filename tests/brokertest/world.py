"""A broker in-process: moto (mock_aws), the real handlers behind `LocalHttpApi`, a dev IdP.

Requests go through the same gateway emulation `make dev` uses (routes from template.yaml, the
authorizer with its cache, payload 2.0 events) via werkzeug's test client: no sockets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from werkzeug.test import Client, TestResponse

from brokertest.dns import FakeDns
from brokertest.transport import RoutingTransport
from oauth_broker.clients import http_client
from oauth_broker.config import BrokerConfig
from oauth_broker.services import Services, configure
from oauth_broker_dev import devidp, lambda_runtime
from oauth_broker_dev.aws_local import LocalResources
from oauth_broker_dev.gateway import LocalHttpApi

BROKER_BASE = "https://broker.test"
IDP_BASE = "https://idp.test"


def _jwks_transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=devidp.jwks()))


@dataclass
class Aws:
    dynamodb: Any
    kms: Any
    events: Any
    resources: LocalResources


@dataclass
class World:
    aws: Aws
    services: Services
    transport: RoutingTransport
    api: LocalHttpApi
    client: Client
    dns: FakeDns = field(default_factory=FakeDns)  # the outbound guard's resolver
    tokens: dict[tuple[str, str, bool], str] = field(default_factory=dict)

    def token(self, tenant: str = "acme", user: str = "alice", *, admin: bool = False) -> str:
        key = (tenant, user, admin)
        if key not in self.tokens:
            self.tokens[key] = devidp.mint(tenant, user, admin=admin)
        return self.tokens[key]

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        query_string: str | dict[str, Any] | None = None,
    ) -> TestResponse:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            kwargs["content_type"] = "application/json"
        elif data is not None:
            kwargs["data"] = data
        if query_string is not None:
            kwargs["query_string"] = query_string
        return self.client.open(path, method=method, **kwargs)


def build_world(aws: Aws, **config_overrides: Any) -> World:
    transport = RoutingTransport({IDP_BASE: _jwks_transport()})
    dns = FakeDns()
    config = BrokerConfig(
        table_name=aws.resources.table_name,
        kms_key_id=aws.resources.key_id,
        event_bus_name=aws.resources.bus_name,
        jwt_issuer=devidp.DEV_ISSUER,
        jwt_audience=devidp.DEV_AUDIENCE,
        jwks_url=f"{IDP_BASE}/jwks.json",
        public_base_url=BROKER_BASE,
        **config_overrides,
    )
    services = Services(
        config,
        dynamodb=aws.dynamodb,
        kms=aws.kms,
        events=aws.events,
        http=http_client(transport),  # the production factory: pooled, no cookies, no redirects
        invoke_refresh=lambda payload: lambda_runtime.invoke("refresh", payload),
        resolver=dns,
    )
    configure(services)
    api = LocalHttpApi(lambda_runtime.invoke, domain="broker.test")
    return World(aws=aws, services=services, transport=transport, api=api, client=Client(api), dns=dns)
