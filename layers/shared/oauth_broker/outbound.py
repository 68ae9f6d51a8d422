"""The outbound URL guard (SSRF): where the broker may send a request on a tenant's behalf.

Tenants configure URLs the broker then calls (a custom provider's endpoints, discovery, JWKS,
userinfo and revocation URLs, its `api.base_url`, the webhook URL). Each must be https, must name
its host (no IP literal), and that host must not lead into the broker's own network: loopback,
private (RFC 1918), link-local (169.254.0.0/16 with the instance metadata address, fe80::/10),
shared/CGNAT (100.64.0.0/10), IPv6 unique-local (fc00::/7), unspecified, multicast or reserved
addresses, nor an IPv4-mapped, NAT64 or 6to4 IPv6 form of one of those. Loopback (and http to a
loopback host) is allowed only where the deployment allows loopback URLs (the local runtime).

Two layers, one set of rules:

- `OutboundGuard.check_url` at registration and settings time: a clear 422 for the admin;
- `GuardedTransport`, the httpx transport of the process's client (`clients.http_client`): its
  network backend resolves each host itself, refuses the connection if any address is refused and
  connects to a vetted address only. So a host that resolved to a public address when it was
  registered and to a private one now (DNS rebinding) is refused at the connect, whatever the
  caller. TLS still verifies the certificate for the host name: httpcore calls
  `start_tls(server_hostname=<the URL's host>)` on the stream this backend returns.

A refused connection raises `OutboundAddressRefused`, an `httpx.ConnectError`, so every caller
treats it as a failed call; its message names the host and the kind of address, never a secret.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]
"""`(host, port) -> addresses`; raises OSError when the name does not resolve."""

LOOPBACK_NAMES = frozenset({"localhost"})

_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("169.254.0.0/16", "link-local"),
        ("192.0.0.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), kind)
    for net, kind in (
        ("::/128", "unspecified"),
        ("::/8", "reserved"),  # IPv4-compatible and IPv4-translated forms
        ("64:ff9b:1::/48", "reserved"),
        ("100::/64", "reserved"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"^(?:\d+|0x[0-9a-f]*)$")


class OutboundUrlRefused(ValueError):
    """A configured URL the broker may not call; the message says why (safe to show the admin)."""


class OutboundAddressRefused(httpx.ConnectError):
    """A connection refused by the guard: the host resolved to an address the broker may not reach."""

    code = "address_not_allowed"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (the operating system's resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parse_ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _numeric_host(host: str) -> bool:
    """A host an URL parser may read as an IPv4 address (`127.1`, `2130706433`, `0x7f.1`):
    its last label is numeric (WHATWG URL), and no DNS name ends with a numeric label."""
    return bool(_NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]))


def _is_loopback_name(host: str) -> bool:
    name = host.rstrip(".")
    return name in LOOPBACK_NAMES or name.endswith(".localhost")


class OutboundGuard:
    """The rules for outbound URLs and addresses; `resolver` is injectable (tests, fake DNS)."""

    def __init__(self, *, allow_loopback: bool = False, resolver: Resolver | None = None):
        self.allow_loopback = allow_loopback
        self.resolver: Resolver = resolver or system_resolver

    # -- addresses ------------------------------------------------------------------------------
    def refusal(self, address: str | IPAddress) -> str | None:
        """The kind of address (`"private"`, `"loopback"`, ...) if it is refused, else None."""
        ip = address if not isinstance(address, str) else _parse_ip(address)
        if ip is None:
            return "invalid"
        ip = _embedded_v4(ip) or ip
        if ip.is_loopback:
            return None if self.allow_loopback else "loopback"
        table: Iterable[tuple[Any, str]] = _REFUSED_V4 if ip.version == 4 else _REFUSED_V6
        for network, kind in table:
            if ip in network:
                return kind
        return None

    def _first_refusal(self, addresses: Iterable[str]) -> str | None:
        return next((kind for kind in map(self.refusal, addresses) if kind is not None), None)

    def vet(self, host: str, port: int) -> list[str]:
        """The addresses of `host` the broker may connect to; raises `OutboundAddressRefused` if
        any is refused (a name with one bad address is a bad name), `httpcore.ConnectError` if
        the name does not resolve."""
        literal = _parse_ip(host)
        if literal is not None:
            addresses = [str(literal)]
        elif _numeric_host(host):
            raise OutboundAddressRefused(f"connection to {host} refused: a numeric host name")
        else:
            try:
                addresses = list(dict.fromkeys(self.resolver(host, port)))
            except OSError:
                raise httpcore.ConnectError(f"{host} does not resolve") from None
            if not addresses:
                raise httpcore.ConnectError(f"{host} does not resolve")
        kind = self._first_refusal(addresses)
        if kind is not None:
            raise OutboundAddressRefused(f"connection to {host} refused: it resolves to a {kind} address")
        return addresses

    # -- URLs -----------------------------------------------------------------------------------
    def check_url(self, url: str, *, resolve: bool = True) -> str:
        """`url` if the broker may call it, else `OutboundUrlRefused`. With `resolve`, the host
        name is looked up and every address it has must be allowed (the connect checks again)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise OutboundUrlRefused("not a valid URL") from None
        host = (parts.hostname or "").lower()
        if not host or parts.username is not None or parts.password is not None:
            raise OutboundUrlRefused("must be an absolute URL with a host and no credentials")
        literal = _parse_ip(host)
        loopback = _is_loopback_name(host) or (literal is not None and literal.is_loopback)
        if parts.scheme == "http" and self.allow_loopback and loopback:
            pass
        elif parts.scheme != "https":
            raise OutboundUrlRefused(
                "must be an https URL" + (" (or http on a loopback host)" if self.allow_loopback else "")
            )
        if loopback:
            if self.allow_loopback:
                return url
            raise OutboundUrlRefused("must not point at a loopback host")
        if literal is not None or _numeric_host(host):
            raise OutboundUrlRefused("must name its host, not an IP address")
        if not resolve:
            return url
        try:
            addresses = list(self.resolver(host, port or 443))
        except OSError:
            raise OutboundUrlRefused(f"the host {host} does not resolve") from None
        if not addresses:
            raise OutboundUrlRefused(f"the host {host} does not resolve")
        kind = self._first_refusal(addresses)
        if kind is not None:
            raise OutboundUrlRefused(f"the host {host} resolves to a {kind} address")
        return url

    def transport(self, **kwargs: Any) -> GuardedTransport:
        return GuardedTransport(self, **kwargs)


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's network backend behind the guard: resolves the host itself, refuses a host with
    any refused address, and connects to the vetted addresses only (in order, first that answers).
    `backend` is the one that opens sockets (httpcore's `SyncBackend`; tests inject a fake)."""

    def __init__(self, guard: OutboundGuard, backend: httpcore.NetworkBackend | None = None):
        self.guard = guard
        self.backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        error: Exception | None = None
        for address in self.guard.vet(host, port):
            try:
                return self.backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # vet() returns at least one address
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise OutboundAddressRefused("connection refused: unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's default transport whose connections go through `GuardedNetworkBackend`, with no
    proxy from the environment (a proxy would be the address connected to). Plain http passes
    only to a loopback host where loopback is allowed.

    httpx (0.28, 0.29) takes no network backend as a parameter (encode/httpx#3749), so the pool
    the base class builds is replaced by one with the guarded backend; `tests/unit/test_outbound.py`
    proves the process's client connects through it."""

    def __init__(
        self,
        guard: OutboundGuard,
        *,
        limits: httpx.Limits | None = None,
        backend: httpcore.NetworkBackend | None = None,
    ):
        limits = limits or httpx.Limits(max_connections=50, max_keepalive_connections=20)
        super().__init__(limits=limits, trust_env=False)
        self.guard = guard
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard, backend),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            host = request.url.host
            literal = _parse_ip(host)
            loopback = _is_loopback_name(host) or (literal is not None and literal.is_loopback)
            if not (request.url.scheme == "http" and loopback and self.guard.allow_loopback):
                raise OutboundAddressRefused(
                    f"connection to {host} refused: only https is allowed", request=request
                )
        return super().handle_request(request)
