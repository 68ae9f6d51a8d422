import pytest

from oauth_broker.config import BrokerConfig
from oauth_broker.errors import ConfigurationError

GOOD = {
    "TABLE_NAME": "broker",
    "KMS_KEY_ID": "alias/broker",
    "EVENT_BUS_NAME": "broker",
    "JWT_ISSUER": "https://idp.example.com/",
    "JWT_AUDIENCE": "broker",
    "JWKS_URL": "https://idp.example.com/.well-known/jwks.json",
}


def test_given_a_complete_environment_when_parsed_then_defaults_fill_the_optional_settings():
    config = BrokerConfig.from_env(GOOD)
    assert config.table_name == "broker"
    assert (config.tenant_claim, config.admin_claim, config.admin_group) == (
        "tenant",
        "groups",
        "broker-admin",
    )
    assert config.refresh_ahead_seconds == 300
    assert config.allow_loopback_urls is False


def test_given_a_missing_variable_when_parsed_then_the_cold_start_fails_naming_it():
    env = {k: v for k, v in GOOD.items() if k != "TABLE_NAME"}
    with pytest.raises(ConfigurationError, match="TABLE_NAME is required but not set"):
        BrokerConfig.from_env(env)


def test_given_a_malformed_variable_when_parsed_then_the_error_names_the_variable_not_the_field():
    with pytest.raises(ConfigurationError, match="JWKS_URL") as info:
        BrokerConfig.from_env({**GOOD, "JWKS_URL": "ftp://nope"})
    assert "jwks_url" not in str(info.value)


def test_given_a_non_numeric_refresh_window_when_parsed_then_it_is_refused():
    with pytest.raises(ConfigurationError, match="REFRESH_AHEAD_SECONDS"):
        BrokerConfig.from_env({**GOOD, "REFRESH_AHEAD_SECONDS": "soon"})


def test_given_a_public_base_url_with_a_trailing_slash_when_parsed_then_it_is_normalised():
    config = BrokerConfig.from_env({**GOOD, "PUBLIC_BASE_URL": "https://auth.example.com/"})
    assert config.public_base_url == "https://auth.example.com"
