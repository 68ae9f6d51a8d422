"""OIDC Discovery 1.0: `{issuer}/.well-known/openid-configuration`, fetched through the injected
httpx client when a custom provider names only its issuer.

The URL comes from an admin, so the fetch is bounded: the outbound guard's rules first
(`oauth_broker.outbound`: https, a host name that resolves to no loopback, private, link-local or
reserved address; the process's client checks the address connected to again), no redirects, a
5 s timeout and a 256 KiB body cap.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oauth_broker.outbound import OutboundAddressRefused, OutboundUrlRefused

if TYPE_CHECKING:
    import httpx

    from oauth_broker.outbound import OutboundGuard

DISCOVERY_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024


class DiscoveryError(Exception):
    """The discovery document could not be fetched or is not a JSON object (safe message)."""


def fetch_openid_configuration(
    http: httpx.Client, discovery_url: str, *, guard: OutboundGuard
) -> dict[str, Any]:
    """The discovery document as a dict; raises `DiscoveryError`."""
    import httpx

    try:
        guard.check_url(discovery_url)
    except OutboundUrlRefused as exc:
        raise DiscoveryError(f"the discovery URL is not allowed: {exc}") from None
    try:
        with http.stream(
            "GET",
            discovery_url,
            headers={"Accept": "application/json"},
            timeout=DISCOVERY_TIMEOUT_SECONDS,
            follow_redirects=False,
        ) as resp:
            if resp.status_code != 200:
                raise DiscoveryError(f"the discovery document answered HTTP {resp.status_code}")
            body = b""
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise DiscoveryError("the discovery document is too large")
    except OutboundAddressRefused:
        raise DiscoveryError(
            f"the discovery document could not be fetched ({OutboundAddressRefused.code}: the host"
            " resolves to an address the broker may not call)"
        ) from None
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"the discovery document could not be fetched ({type(exc).__name__})") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise DiscoveryError("the discovery document is not JSON") from None
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    return document
