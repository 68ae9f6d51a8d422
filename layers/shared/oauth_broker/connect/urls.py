"""The broker's public URLs: PUBLIC_BASE_URL when set, else `https://{domainName}` of the request."""

from __future__ import annotations

from urllib.parse import urlencode

from oauth_broker.config import BrokerConfig

CALLBACK_PATH = "/v1/oauth/callback"
AUTHORIZE_PATH = "/v1/oauth/authorize"


def public_base_url(config: BrokerConfig, domain_name: str | None) -> str:
    if config.public_base_url:
        return config.public_base_url
    if not domain_name:
        raise ValueError("no PUBLIC_BASE_URL and no request domain name")
    return f"https://{domain_name}"


def callback_url(config: BrokerConfig, domain_name: str | None) -> str:
    """The OAuth redirect URI to register at the provider (the stack's `CallbackUrl` output)."""
    return public_base_url(config, domain_name) + CALLBACK_PATH


def authorize_url(config: BrokerConfig, domain_name: str | None, session_token: str) -> str:
    return public_base_url(config, domain_name) + AUTHORIZE_PATH + "?" + urlencode({"session": session_token})
