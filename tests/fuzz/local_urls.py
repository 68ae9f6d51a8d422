"""No request the fuzzer makes sends the broker to a host outside this machine."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def keep_local(value: Any, broker: str) -> Any:
    """Any URL the fuzzer put in a body points at a closed loopback port instead of a real host (or
    another process of this machine): webhook URLs, custom providers' endpoints and issuers are then
    called, but nothing leaves the machine (the local broker allows loopback URLs). The broker's own
    origin is kept (return_to, allowed origins)."""
    if isinstance(value, dict):
        return {k: keep_local(v, broker) for k, v in value.items()}
    if isinstance(value, list):
        return [keep_local(v, broker) for v in value]
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(value)
        except ValueError:
            return value
        if parts.netloc and parts.netloc != urlsplit(broker).netloc:
            return urlunsplit(parts._replace(netloc="localhost:9"))
    return value
