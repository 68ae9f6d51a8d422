"""The outbound URL guard (SSRF): its rules at validation time, and the address actually connected
to, checked in the network backend of the process's httpx client.

No packet leaves: names resolve through `FakeDns`; the connector under the guard is a recording
fake (httpcore's MockBackend), or a real listener on 127.0.0.1 that this test starts and stops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from brokertest.dns import PUBLIC_ADDRESS, FakeDns
from oauth_broker.clients import http_client
from oauth_broker.config import BrokerConfig
from oauth_broker.outbound import (
    GuardedTransport,
    OutboundAddressRefused,
    OutboundGuard,
    OutboundUrlRefused,
)
from oauth_broker.services import Services

# (address, the kind the guard names): one or more per refused range, the edges included
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.0.1", "private"),
    ("192.168.255.254", "private"),
    ("169.254.169.254", "link-local"),  # the instance metadata service
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("fc00::1", "unique-local"),
    ("fd00:ec2::254", "unique-local"),  # the instance metadata service over IPv6
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:100.64.0.1", "shared (CGNAT)"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 form of 169.254.169.254
    ("2002:a00:1::", "private"),  # 6to4 form of 10.0.0.1
    ("224.0.0.1", "multicast"),
    ("255.255.255.255", "reserved"),
]
ALLOWED = [
    "8.8.8.8",
    "172.32.0.1",  # just past 172.16.0.0/12
    "100.128.0.1",  # just past 100.64.0.0/10
    "169.255.0.1",
    "11.0.0.1",
    "192.169.0.1",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    PUBLIC_ADDRESS,
]


class RecordingStream(httpcore.MockStream):
    def __init__(self, buffer: list[bytes], tls: list[str | None]):
        super().__init__(buffer)
        self._tls = tls

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self._tls.append(server_hostname)
        return self


class RecordingBackend(httpcore.MockBackend):
    """Stands where the sockets would be opened: records each (address, port) and answers 200."""

    def __init__(self) -> None:
        super().__init__([b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n\r\n", b"ok"])
        self.connects: list[tuple[str, int]] = []
        self.tls: list[str | None] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        return RecordingStream(list(self._buffer), self.tls)


def guarded(dns: FakeDns, *, allow_loopback: bool = False) -> tuple[httpx.Client, RecordingBackend]:
    backend = RecordingBackend()
    guard = OutboundGuard(allow_loopback=allow_loopback, resolver=dns)
    return http_client(transport=GuardedTransport(guard, backend=backend)), backend


# -- the ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_an_address_in_a_refused_range_when_classified_then_the_guard_names_its_kind(address, kind):
    assert OutboundGuard().refusal(address) == kind


@pytest.mark.parametrize("address", ALLOWED)
def test_given_a_public_address_when_classified_then_it_is_allowed(address):
    assert OutboundGuard().refusal(address) is None


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_an_ip_literal_url_when_validated_then_it_is_refused(address, kind):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundUrlRefused):
        OutboundGuard(resolver=FakeDns()).check_url(f"https://{host}/token")


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888"])
def test_given_a_public_ip_literal_url_when_validated_then_it_is_refused_too(address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundUrlRefused, match="not an IP address"):
        OutboundGuard(resolver=FakeDns()).check_url(f"https://{host}/token")


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "10.0.0.1."])
def test_given_a_numeric_host_an_url_parser_reads_as_ipv4_when_validated_then_it_is_refused(host):
    with pytest.raises(OutboundUrlRefused):
        OutboundGuard(resolver=FakeDns()).check_url(f"https://{host}/")


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_a_host_name_resolving_into_a_refused_range_when_validated_then_it_is_refused(address, kind):
    dns = FakeDns({"idp.example.com": address})
    with pytest.raises(OutboundUrlRefused, match=f"resolves to a {kind.replace('(', '.').replace(')', '.')}"):
        OutboundGuard(resolver=dns).check_url("https://idp.example.com/token")


def test_given_a_host_name_with_one_public_and_one_private_address_when_validated_then_it_is_refused():
    dns = FakeDns({"idp.example.com": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(OutboundUrlRefused, match="private"):
        OutboundGuard(resolver=dns).check_url("https://idp.example.com/token")


def test_given_a_host_name_resolving_to_public_addresses_when_validated_then_it_is_allowed():
    dns = FakeDns({"idp.example.com": ["8.8.8.8", "2001:4860:4860::8888"]})
    url = "https://idp.example.com:8443/token?x=1"
    assert OutboundGuard(resolver=dns).check_url(url) == url
    assert dns.lookups == ["idp.example.com"]


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/token",
        "ftp://idp.example.com/token",
        "https://user:pass@idp.example.com/token",
        "https:///token",
        "https://idp.example.com:99999/",
        "http://localhost/",
        "https://localhost/",
        "https://api.localhost/",
    ],
)
def test_given_a_url_that_is_not_https_to_a_public_host_when_validated_then_it_is_refused(url):
    with pytest.raises(OutboundUrlRefused):
        OutboundGuard(resolver=FakeDns()).check_url(url)


def test_given_a_host_that_does_not_resolve_when_validated_then_it_is_refused():
    dns = FakeDns({"gone.example.com": []})
    with pytest.raises(OutboundUrlRefused, match="does not resolve"):
        OutboundGuard(resolver=dns).check_url("https://gone.example.com/")


def test_given_validation_without_resolving_when_a_public_name_is_checked_then_no_lookup_is_made():
    dns = FakeDns({"idp.example.com": "10.0.0.1"})
    OutboundGuard(resolver=dns).check_url("https://idp.example.com/", resolve=False)
    assert dns.lookups == []


# -- the loopback allowance (the local runtime) ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:3000/hook", "http://localhost:3000/hook", "http://[::1]:3000/", "https://localhost/"],
)
def test_given_loopback_allowed_when_a_loopback_url_is_validated_then_it_passes(url):
    assert OutboundGuard(allow_loopback=True, resolver=FakeDns()).check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/",  # http only to loopback
        "https://10.0.0.1/",
        "https://[::ffff:169.254.169.254]/",
        "https://metadata.example.com/",
    ],
)
def test_given_loopback_allowed_when_anything_else_is_validated_then_the_rules_still_apply(url):
    dns = FakeDns({"metadata.example.com": "169.254.169.254"})
    with pytest.raises(OutboundUrlRefused):
        OutboundGuard(allow_loopback=True, resolver=dns).check_url(url)


# -- the address actually connected to -------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_a_host_name_resolving_into_a_refused_range_when_connecting_then_no_connection_is_made(
    address, kind
):
    client, backend = guarded(FakeDns({"idp.example.com": address}))
    with pytest.raises(OutboundAddressRefused, match=f"{kind.split(' ')[0]}") as refused:
        client.get("https://idp.example.com/token")
    assert isinstance(refused.value, httpx.ConnectError)  # callers treat it as a failed call
    assert refused.value.request.url.host == "idp.example.com"
    assert backend.connects == []


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_given_an_ip_literal_in_a_refused_range_when_connecting_then_no_connection_is_made(address, kind):
    client, backend = guarded(FakeDns())
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(OutboundAddressRefused):
        client.get(f"https://{host}/latest/meta-data/")
    assert backend.connects == []


def test_given_a_public_host_when_connecting_then_only_the_vetted_address_is_dialled_and_tls_names_the_host():
    dns = FakeDns({"idp.example.com": "93.184.215.14"})
    client, backend = guarded(dns)
    resp = client.get("https://idp.example.com/token")
    assert resp.status_code == 200 and resp.text == "ok"
    assert backend.connects == [("93.184.215.14", 443)]  # the address vetted, not the name
    assert backend.tls == ["idp.example.com"]  # SNI and certificate checks use the host name


def test_given_a_rebinding_host_when_public_at_validation_and_private_at_connect_then_it_is_refused():
    dns = FakeDns()
    dns.sequence("rebind.example.com", ["93.184.215.14", "169.254.169.254"])
    guard = OutboundGuard(resolver=dns)
    assert guard.check_url("https://rebind.example.com/hook") == "https://rebind.example.com/hook"
    backend = RecordingBackend()
    client = http_client(transport=GuardedTransport(guard, backend=backend))
    with pytest.raises(OutboundAddressRefused, match="link-local"):
        client.post("https://rebind.example.com/hook", content=b"{}")
    assert backend.connects == []
    assert dns.lookups == ["rebind.example.com", "rebind.example.com"]


def test_given_plain_http_to_a_public_host_when_sent_then_the_transport_refuses_it():
    dns = FakeDns()
    client, backend = guarded(dns)
    with pytest.raises(OutboundAddressRefused, match="https"):
        client.get("http://idp.example.com/")
    assert backend.connects == [] and dns.lookups == []


def test_given_a_host_that_does_not_resolve_when_connecting_then_it_is_an_ordinary_connect_error():
    client, backend = guarded(FakeDns({"gone.example.com": []}))
    with pytest.raises(httpx.ConnectError) as failed:
        client.get("https://gone.example.com/")
    assert not isinstance(failed.value, OutboundAddressRefused)
    assert backend.connects == []


# -- a real socket, through the process's own client ------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _services(*, allow_loopback: bool, dns: FakeDns) -> Services:
    config = BrokerConfig(
        table_name="t-outbound",
        kms_key_id="k",
        event_bus_name="b",
        jwt_issuer="https://idp.example.com/",
        jwt_audience="a",
        jwks_url="https://idp.example.com/jwks.json",
        allow_loopback_urls=allow_loopback,
    )
    return Services(config, resolver=dns)


def test_given_the_local_runtime_allowance_when_the_process_client_calls_a_loopback_listener_then_it_connects(
    listener,
):
    http = _services(allow_loopback=True, dns=FakeDns()).http
    resp = http.get(f"http://127.0.0.1:{listener.server_port}/")
    assert resp.status_code == 200 and listener.hits == 1  # type: ignore[attr-defined]


def test_given_a_deployment_when_the_process_client_is_led_to_a_loopback_listener_then_no_connection_is_made(
    listener,
):
    dns = FakeDns({"hooks.example.com": "127.0.0.1"})
    http = _services(allow_loopback=False, dns=dns).http
    with pytest.raises(OutboundAddressRefused, match="loopback"):
        http.get(f"https://hooks.example.com:{listener.server_port}/")
    with pytest.raises(OutboundAddressRefused):
        http.get(f"http://127.0.0.1:{listener.server_port}/")
    assert listener.hits == 0  # type: ignore[attr-defined]
