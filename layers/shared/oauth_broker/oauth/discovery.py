"""OIDC Discovery 1.0: `{issuer}/.well-known/openid-configuration`, fetched through the injected
httpx client when a custom provider names only its issuer.

The URL comes from an admin, so the fetch is bounded: https only (http on a loopback host only when
the deployment allows loopback URLs), no IP-literal host in private, link-local or reserved ranges,
no redirects, a 5 s timeout and a 256 KiB body cap.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauth_broker.weburl import is_loopback

if TYPE_CHECKING:
    import httpx

DISCOVERY_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024


class DiscoveryError(Exception):
    """The discovery document could not be fetched or is not a JSON object (safe message)."""


def _check_target(url: str, *, allow_loopback: bool) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise DiscoveryError("the issuer has no host")
    loopback = is_loopback(host)
    if parts.scheme == "http" and not (allow_loopback and loopback):
        raise DiscoveryError("the issuer must be an https URL")
    if parts.scheme not in ("https", "http"):
        raise DiscoveryError("the issuer must be an https URL")
    if loopback and not allow_loopback:
        raise DiscoveryError("the issuer may not be a loopback host")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if not loopback and (address.is_private or address.is_link_local or address.is_reserved):
        raise DiscoveryError("the issuer may not be a private address")


def fetch_openid_configuration(
    http: httpx.Client, discovery_url: str, *, allow_loopback: bool
) -> dict[str, Any]:
    """The discovery document as a dict; raises `DiscoveryError`."""
    import httpx

    _check_target(discovery_url, allow_loopback=allow_loopback)
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
    except httpx.HTTPError as exc:
        raise DiscoveryError(f"the discovery document could not be fetched ({type(exc).__name__})") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise DiscoveryError("the discovery document is not JSON") from None
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    return document
