"""URL rules shared by settings, providers and connect sessions: origins, https, loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, *, allow_loopback_http: bool) -> str:
    """An absolute https URL (http only on a loopback host when allowed); raises ValueError."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise ValueError("must be an absolute URL with a host and no credentials")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and allow_loopback_http and is_loopback(host):
        return value
    raise ValueError(
        "must be an https URL" + (" (or http on a loopback host)" if allow_loopback_http else "")
    )


def origin_of(value: str) -> str:
    """`scheme://host[:port]`, lower-cased, default ports dropped; ValueError if there is none."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) origin or URL")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
