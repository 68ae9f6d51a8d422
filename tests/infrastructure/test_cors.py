"""Browser origins may call the API only when the deployer lists them (CORS is off by default)."""

from typing import Any


def api_properties(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["BrokerApi"]["Properties"]


def test_given_no_cors_origins_when_deployed_then_the_api_has_no_cors_configuration(template):
    assert template["Parameters"]["CorsAllowOrigins"]["Default"] == ""
    cors = api_properties(template)["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "HasCors" and cors[2] == {"Ref": "AWS::NoValue"}


def test_given_cors_origins_when_deployed_then_only_those_origins_and_the_broker_headers_are_allowed(
    template,
):
    allowed = api_properties(template)["CorsConfiguration"]["Fn::If"][1]
    assert allowed["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}
    assert set(allowed["AllowHeaders"]) == {
        "authorization",
        "content-type",
        "idempotency-key",
        "x-on-behalf-of",
    }
    assert "AllowCredentials" not in allowed  # bearer tokens, never cookies
