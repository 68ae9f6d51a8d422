"""The functions: runtime, build, configuration, limits; and the stack's outputs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infrastructure.infra_template import FUNCTIONS, REPO_ROOT, Stack

CODE_DIRS = {
    "AuthorizerFunction": "functions/authorizer",
    "AuthorizeFunction": "functions/authorize",
    "CallbackFunction": "functions/callback",
    "ApiFunction": "functions/api",
    "ProxyFunction": "functions/proxy",
    "RefreshFunction": "functions/refresh",
    "WebhookFunction": "functions/webhook",
    "RiscFunction": "functions/risc",
    "GmailPushFunction": "functions/gmail_push",
}

LIMITS = {  # function -> (timeout seconds, memory MB)
    "AuthorizerFunction": (5, 256),
    "AuthorizeFunction": (29, 512),
    "CallbackFunction": (29, 512),
    "ApiFunction": (29, 512),
    "ProxyFunction": (29, 256),  # waits on Google: the cheapest size that stays fast (bench_cost.py)
    "RefreshFunction": (300, 1769),
    "WebhookFunction": (29, 512),
    "RiscFunction": (29, 256),  # a few DynamoDB writes and one event per connection it cuts
    # answers within Pub/Sub's default acknowledgement deadline (10 s), or Pub/Sub delivers again
    "GmailPushFunction": (10, 256),
}

GLOBAL_ENVIRONMENT = {
    "TABLE_NAME": {"Ref": "Table"},
    "KMS_KEY_ID": {"Ref": "BrokerKey"},
    "EVENT_BUS_NAME": {"Ref": "EventBus"},
    "JWT_ISSUER": {"Ref": "JwtIssuer"},
    "JWT_AUDIENCE": {"Ref": "JwtAudience"},
    "JWKS_URL": {"Ref": "JwksUrl"},
    "TENANT_CLAIM": {"Ref": "TenantClaim"},
    "ADMIN_CLAIM": {"Ref": "AdminClaim"},
    "ADMIN_GROUP": {"Ref": "AdminGroup"},
    "PUBLIC_BASE_URL": {"Ref": "PublicBaseUrl"},
    "POWERTOOLS_SERVICE_NAME": {"Ref": "AWS::StackName"},  # the metrics' `service` dimension
    "POWERTOOLS_METRICS_NAMESPACE": "OAuthBroker",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
    "LOG_LEVEL": {"Ref": "LogLevel"},
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
}


def setting(stack: Stack, function: str, name: str) -> Any:
    """A function property, falling back to Globals.Function (as SAM does)."""
    props = stack.props(function)
    return props[name] if name in props else stack.template["Globals"]["Function"].get(name)


def environment(stack: Stack, function: str) -> dict[str, Any]:
    merged = dict(stack.template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(stack.props(function).get("Environment", {}).get("Variables", {}))
    return merged


def test_given_the_template_when_listing_functions_then_there_are_exactly_the_nine_broker_functions(
    stack: Stack,
) -> None:
    assert set(stack.of_type("AWS::Serverless::Function")) == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_code_then_it_is_app_handler_in_its_own_directory(
    stack: Stack, function: str
) -> None:
    assert stack.props(function)["CodeUri"] == CODE_DIRS[function]
    assert setting(stack, function, "Handler") == "app.handler"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_runtime_then_it_is_python_3_13_on_arm64_with_active_tracing(
    stack: Stack, function: str
) -> None:
    assert setting(stack, function, "Runtime") == "python3.13"
    assert setting(stack, function, "Architectures") == ["arm64"]
    assert setting(stack, function, "Tracing") == "Active"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_layers_then_it_uses_the_shared_layer(
    stack: Stack, function: str
) -> None:
    assert setting(stack, function, "Layers") == [{"Ref": "SharedLayer"}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_limits_then_timeout_and_memory_fit_its_job(
    stack: Stack, function: str
) -> None:
    assert (setting(stack, function, "Timeout"), setting(stack, function, "MemorySize")) == LIMITS[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_sam_builds_it_then_its_makefile_target_copies_app_py_to_the_artifacts(
    stack: Stack, function: str
) -> None:
    makefile = (REPO_ROOT / CODE_DIRS[function] / "Makefile").read_text()
    recipe = re.search(rf"^build-{function}:\n((?:\t.*\n)+)", makefile, re.MULTILINE)

    assert stack.resources[function]["Metadata"]["BuildMethod"] == "makefile"
    assert set(stack.resources[function]["Metadata"]) <= {"BuildMethod", "checkov"}
    assert recipe is not None, f"no build-{function} target"
    assert "cp app.py" in recipe.group(1)
    assert "$(ARTIFACTS_DIR)" in recipe.group(1)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_environment_then_it_has_the_broker_configuration(
    stack: Stack, function: str
) -> None:
    env = environment(stack, function)

    assert {k: env.get(k) for k in GLOBAL_ENVIRONMENT} == GLOBAL_ENVIRONMENT


def test_given_the_functions_when_reading_refresh_function_name_then_only_the_api_function_has_it(
    stack: Stack,
) -> None:
    having = {fn for fn in FUNCTIONS if "REFRESH_FUNCTION_NAME" in environment(stack, fn)}

    assert having == {"ApiFunction"}
    assert environment(stack, "ApiFunction")["REFRESH_FUNCTION_NAME"] == {"Ref": "RefreshFunction"}


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("TenantClaim", "tenant"),
        ("AdminClaim", "groups"),
        ("AdminGroup", "broker-admin"),
        ("PublicBaseUrl", ""),
        ("LogLevel", "INFO"),
        ("SweepSchedule", "rate(10 minutes)"),
        ("AuthorizerCacheTtl", 300),
        ("DeletionProtection", "true"),
    ],
)
def test_given_an_optional_parameter_when_the_deployer_skips_it_then_it_has_its_default(
    stack: Stack, name: str, default: Any
) -> None:
    assert stack.template["Parameters"][name]["Default"] == default


@pytest.mark.parametrize("name", ["JwtIssuer", "JwtAudience", "JwksUrl"])
def test_given_an_identity_provider_parameter_when_the_deployer_skips_it_then_the_deploy_asks_for_it(
    stack: Stack, name: str
) -> None:
    parameter = stack.template["Parameters"][name]

    assert parameter["Type"] == "String"
    assert "Default" not in parameter


def test_given_the_log_level_parameter_when_reading_allowed_values_then_only_python_levels_are_accepted(
    stack: Stack,
) -> None:
    assert stack.template["Parameters"]["LogLevel"]["AllowedValues"] == [
        "DEBUG",
        "INFO",
        "WARNING",
        "ERROR",
        "CRITICAL",
    ]


def test_given_the_shared_layer_when_reading_it_then_it_is_built_by_its_makefile_for_python_3_13_on_arm64(
    stack: Stack,
) -> None:
    layer = stack.resources["SharedLayer"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}


def test_given_the_stack_outputs_when_reading_them_then_url_table_bus_and_key_are_exported(
    stack: Stack,
) -> None:
    outputs = stack.template["Outputs"]
    api_url = "https://${BrokerApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"

    assert set(outputs) == {
        "ApiUrl",
        "CallbackUrl",
        "TableName",
        "EventBusName",
        "KmsKeyArn",
        "AlarmTopicArn",  # the operations outputs: tests/infrastructure/test_alarms.py
        "DashboardName",
        "DashboardUrl",
        "ApiAccessLogGroup",
    }
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": api_url}
    assert outputs["TableName"]["Value"] == {"Ref": "Table"}
    assert outputs["EventBusName"]["Value"] == {"Ref": "EventBus"}
    assert outputs["KmsKeyArn"]["Value"] == {"Fn::GetAtt": ["BrokerKey", "Arn"]}


def test_given_the_callback_url_output_when_no_public_base_url_is_set_then_it_is_the_api_url_callback_route(
    stack: Stack,
) -> None:
    condition, _custom, default = stack.template["Outputs"]["CallbackUrl"]["Value"]["Fn::If"]

    assert stack.template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PublicBaseUrl"}, ""]}]
    }
    assert default == {
        "Fn::Sub": "https://${BrokerApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/oauth/callback"
    }


def test_given_the_callback_url_output_when_a_public_base_url_is_set_then_it_is_that_urls_callback_route(
    stack: Stack,
) -> None:
    condition, custom, _default = stack.template["Outputs"]["CallbackUrl"]["Value"]["Fn::If"]

    assert stack.template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PublicBaseUrl"}, ""]}]
    }
    assert custom == {"Fn::Sub": "${PublicBaseUrl}/v1/oauth/callback"}
