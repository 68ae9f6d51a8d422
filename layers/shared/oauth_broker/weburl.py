"""Origins, as settings (`allowed_return_origins`) and connect sessions (`return_to`) compare them.

The rules for URLs the broker calls are the outbound guard's (`oauth_broker.outbound`)."""

from __future__ import annotations

from urllib.parse import urlsplit


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
