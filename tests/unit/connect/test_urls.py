"""The broker's public URLs: PUBLIC_BASE_URL when set, else the request's API Gateway domain."""

from __future__ import annotations

import pytest

from oauth_broker.config import BrokerConfig
from oauth_broker.connect.urls import authorize_url, callback_url

BASE = {
    "table_name": "t-1",
    "kms_key_id": "k",
    "event_bus_name": "b",
    "jwt_issuer": "https://idp.example.com",
    "jwt_audience": "a",
    "jwks_url": "https://idp.example.com/jwks",
}


def test_given_no_public_base_url_when_the_callback_url_is_built_then_it_is_the_request_domain_over_https():
    config = BrokerConfig(**BASE)
    url = callback_url(config, "abc123.execute-api.eu-west-1.amazonaws.com")
    assert url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/oauth/callback"


def test_given_a_public_base_url_when_urls_are_built_then_it_wins_over_the_request_domain():
    config = BrokerConfig(**BASE, public_base_url="https://oauth.example.com/")
    assert (
        callback_url(config, "abc.execute-api.amazonaws.com") == "https://oauth.example.com/v1/oauth/callback"
    )
    assert (
        authorize_url(config, None, "cs_a+b")
        == "https://oauth.example.com/v1/oauth/authorize?session=cs_a%2Bb"
    )


def test_given_neither_when_the_callback_url_is_built_then_it_fails_loudly():
    with pytest.raises(ValueError):
        callback_url(BrokerConfig(**BASE), None)
