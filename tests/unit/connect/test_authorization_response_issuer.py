"""RFC 9207: the `iss` of an authorization response against the provider the state was made for."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_broker.connect.issuer import authorization_response_issuer_error
from oauth_broker.providers.catalog import ProviderCatalog, ProviderDefinition

GOOGLE_ISSUER = "https://accounts.google.com"


@pytest.fixture(scope="module")
def gmail() -> ProviderDefinition:
    return ProviderCatalog.load().get("google-mail")


def custom(**auth: Any) -> ProviderDefinition:
    return ProviderDefinition.from_custom(
        {
            "key": "acme",
            "display_name": "Acme",
            "auth": {
                "authorization_url": "https://id.acme.test/authorize",
                "token_url": "https://id.acme.test/token",
                **auth,
            },
        }
    )


def test_given_google_when_the_response_carries_googles_issuer_then_it_is_accepted(gmail):
    assert authorization_response_issuer_error(gmail, GOOGLE_ISSUER) is None


@pytest.mark.parametrize(
    "iss", ["https://evil.example", "https://accounts.google.com/", "https://ACCOUNTS.google.com", ""]
)
def test_given_google_when_the_response_carries_any_other_issuer_then_it_is_a_mismatch(gmail, iss):
    assert authorization_response_issuer_error(gmail, iss) == "issuer_mismatch"


def test_given_google_which_always_sends_iss_when_the_response_has_none_then_it_is_missing(gmail):
    assert authorization_response_issuer_error(gmail, None) == "issuer_missing"


def test_given_a_provider_without_an_issuer_when_the_response_carries_one_then_it_is_a_mismatch():
    assert authorization_response_issuer_error(custom(), "https://id.acme.test") == "issuer_mismatch"
    assert authorization_response_issuer_error(custom(), None) is None


def test_given_an_issuer_not_known_to_send_iss_when_the_response_has_none_then_it_is_accepted():
    provider = custom(issuer="https://id.acme.test")
    assert authorization_response_issuer_error(provider, None) is None
    assert authorization_response_issuer_error(provider, "https://id.acme.test") is None
    assert authorization_response_issuer_error(provider, GOOGLE_ISSUER) == "issuer_mismatch"


def test_given_an_issuer_known_to_send_iss_when_the_response_has_none_then_it_is_missing():
    provider = custom(issuer="https://id.acme.test", authorization_response_iss=True)
    assert authorization_response_issuer_error(provider, None) == "issuer_missing"
