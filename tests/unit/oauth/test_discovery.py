"""OIDC discovery behind the outbound guard: a refused issuer is a stable, safe DiscoveryError."""

from __future__ import annotations

import httpcore
import pytest

from brokertest.dns import FakeDns
from oauth_broker.clients import http_client
from oauth_broker.oauth.discovery import DiscoveryError, fetch_openid_configuration
from oauth_broker.outbound import GuardedTransport, OutboundGuard

DOCUMENT = b'{"issuer":"https://idp.example.com"}'


class Connector(httpcore.MockBackend):
    """Where sockets would open: records the addresses dialled, answers the discovery document."""

    def __init__(self) -> None:
        super().__init__([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(DOCUMENT), DOCUMENT])
        self.dialled: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.dialled.append(host)
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


def fetch(dns: FakeDns, url: str = "https://idp.example.com/.well-known/openid-configuration"):
    guard = OutboundGuard(resolver=dns)
    connector = Connector()
    http = http_client(transport=GuardedTransport(guard, backend=connector))
    return lambda: fetch_openid_configuration(http, url, guard=guard), connector


def test_given_a_public_issuer_when_discovery_runs_then_the_document_comes_back():
    run, connector = fetch(FakeDns({"idp.example.com": "93.184.215.14"}))
    assert run() == {"issuer": "https://idp.example.com"}
    assert connector.dialled == ["93.184.215.14"]


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/.well-known/openid-configuration",
        "http://idp.example.com/.well-known/openid-configuration",
        "https://metadata.example.com/.well-known/openid-configuration",
    ],
)
def test_given_an_issuer_the_guard_refuses_when_discovery_runs_then_nothing_is_fetched(url):
    run, connector = fetch(FakeDns({"metadata.example.com": "169.254.169.254"}), url)
    with pytest.raises(DiscoveryError, match="not allowed"):
        run()
    assert connector.dialled == []


def test_given_an_issuer_rebinding_to_the_metadata_address_when_fetched_then_it_is_a_stable_safe_error():
    dns = FakeDns()
    dns.sequence("idp.example.com", ["93.184.215.14", "169.254.169.254"])
    run, connector = fetch(dns)
    with pytest.raises(DiscoveryError) as refused:
        run()
    assert "address_not_allowed" in str(refused.value)
    assert "Traceback" not in str(refused.value) and "169.254" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert connector.dialled == []
