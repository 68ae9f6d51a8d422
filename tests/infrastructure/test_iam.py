"""Least privilege, the structural part: roles, wildcards, the KMS key policy that mirrors the
roles' grants. Which actions, key prefixes and purposes each function may use is derived from
behaviour in test_iam_from_behaviour.py (the integration suite's recording), not listed here."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.infra_template import FUNCTIONS, Stack, actions_of, as_set, is_envelope_grant

TABLE_ARN = {"Fn::GetAtt": ["Table", "Arn"]}
KEY_ARN = {"Fn::GetAtt": ["BrokerKey", "Arn"]}
BUS_ARN = {"Fn::GetAtt": ["EventBus", "Arn"]}
TABLE_KEY_CONDITION = {
    "StringEquals": {
        "kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
        "kms:CallerAccount": {"Ref": "AWS::AccountId"},
    }
}


def kms_grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """KMS action -> purposes allowed, over the given statements."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        purposes = as_set(statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"])
        for action in actions_of(statement):
            grants.setdefault(action, set()).update(purposes)
    return grants


def all_kms_statements(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """Every envelope-encryption grant: the roles' and the key policy's."""
    found = [(fn, s) for fn in FUNCTIONS for s in stack.kms_statements_of(fn)]
    found += [
        (f"key policy {s.get('Sid')}", s) for s in stack.key_policy_statements() if is_envelope_grant(s)
    ]
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_role_then_it_is_a_lambda_role_with_basic_and_xray_policies_only(
    stack: Stack, function: str
) -> None:
    role = stack.props(stack.role_of(function))

    assert stack.resources[stack.role_of(function)]["Type"] == "AWS::IAM::Role"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert {m["Fn::Sub"] for m in role["ManagedPolicyArns"]} == {
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
    }
    assert "Policies" not in role


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_the_stack_creates_it_then_its_policies_are_attached_first(
    stack: Stack, function: str
) -> None:
    depends_on = stack.resources[function].get("DependsOn", [])
    depends_on = depends_on if isinstance(depends_on, list) else [depends_on]

    assert stack.policies_of(function)
    assert set(stack.policies_of(function)) <= set(depends_on)


def test_given_the_functions_when_comparing_their_roles_then_no_two_functions_share_a_role(
    stack: Stack,
) -> None:
    roles = [stack.role_of(fn) for fn in FUNCTIONS]

    assert len(set(roles)) == len(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_listing_its_dynamodb_statements_then_they_target_only_table_and_indexes(
    stack: Stack, function: str
) -> None:
    dynamodb = [
        s for s in stack.statements_of(function) if any(a.startswith("dynamodb:") for a in actions_of(s))
    ]

    assert dynamodb
    for statement in dynamodb:
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        ):
            assert resource == TABLE_ARN or str(resource.get("Fn::Sub", "")).startswith("${Table.Arn}/index/")


@pytest.mark.parametrize("function", ["AuthorizerFunction", "AuthorizeFunction"])
def test_given_the_authorizer_or_authorize_function_when_listing_its_kms_statements_then_there_are_none(
    stack: Stack, function: str
) -> None:
    assert stack.kms_statements_of(function) == []
    assert stack.key_policy_statements_for(function) == []


def test_given_the_api_function_when_listing_its_kms_actions_then_it_can_encrypt_but_never_decrypt(
    stack: Stack,
) -> None:
    # Every statement that lets the api role call KMS itself (the table-key statement allows
    # DynamoDB only, on its behalf, for the table's own key).
    direct = [
        s for s in stack.statements_of("ApiFunction") if s not in stack.table_key_statements_of("ApiFunction")
    ]
    api_actions = {a for s in direct for a in actions_of(s)}
    key_policy_actions = {a for s in stack.key_policy_statements_for("ApiFunction") for a in actions_of(s)}

    assert "kms:GenerateDataKey" in api_actions
    assert not {a for a in api_actions | key_policy_actions if a.startswith("kms:Decrypt")}


def test_given_the_public_gmail_push_function_when_reading_its_kms_grants_then_they_are_the_proxys_at_most(
    stack: Stack,
) -> None:
    # it reads Gmail's history with the connection's token, as the proxy does (ProxyService.forward):
    # never a webhook secret, never more than a token's use needs
    push = kms_grants(stack.kms_statements_of("GmailPushFunction"))
    proxy = kms_grants(stack.kms_statements_of("ProxyFunction"))

    assert push
    assert all(purposes <= proxy.get(action, set()) for action, purposes in push.items()), push


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_with_kms_access_when_reading_the_resource_then_it_is_the_broker_key_only(
    stack: Stack, function: str
) -> None:
    for statement in stack.kms_statements_of(function):
        assert as_set(statement["Resource"]) == as_set(KEY_ARN)


def test_given_any_kms_grant_when_reading_its_conditions_then_it_pins_purpose_keys_tenant_and_record_id(
    stack: Stack,
) -> None:
    statements = all_kms_statements(stack)
    # on the roles, a KMS statement is an envelope grant, or lets another service use a key for
    # the function (DynamoDB the table's key, SQS the dead-letter queue's): kms:ViaService
    others = [
        (fn, s)
        for fn in FUNCTIONS
        for s in stack.statements_of(fn)
        if any(a.startswith("kms:") for a in actions_of(s)) and not is_envelope_grant(s)
    ]

    assert statements
    assert all("kms:ViaService" in s["Condition"]["StringEquals"] for _, s in others), others
    for where, statement in statements:
        condition = statement["Condition"]
        assert set(condition) == {"StringEquals", "ForAllValues:StringEquals", "Null"}, where
        assert as_set(condition["StringEquals"]["kms:EncryptionContext:purpose"]), where
        assert as_set(condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) == {
            "tenant",
            "record_id",
            "purpose",
        }, where
        assert condition["Null"] == {
            "kms:EncryptionContext:tenant": "false",
            "kms:EncryptionContext:record_id": "false",
        }, where


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_the_key_policy_when_reading_a_functions_statements_then_they_mirror_its_iam_kms_grants(
    stack: Stack, function: str
) -> None:
    key_statements = stack.key_policy_statements_for(function)

    assert kms_grants(key_statements) == kms_grants(stack.kms_statements_of(function))
    iam_conditions = sorted(repr(s["Condition"]) for s in stack.kms_statements_of(function))
    assert sorted(repr(s["Condition"]) for s in key_statements) == iam_conditions


def test_given_the_key_policy_when_listing_its_principals_then_only_the_account_root_administers_the_key(
    stack: Stack,
) -> None:
    admin = [s for s in stack.key_policy_statements() if "kms:*" in actions_of(s)]

    assert admin == [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]


def test_given_every_policy_in_the_template_when_reading_actions_then_none_is_a_wildcard_but_the_key_admin(
    stack: Stack,
) -> None:
    offenders = [
        (where, action)
        for where, statement in stack.all_policy_statements()
        for action in actions_of(statement)
        if ("*" in action) and statement.get("Sid") != "AccountAdministers"
    ]

    assert offenders == []


def test_given_every_iam_policy_when_reading_resources_then_none_is_every_resource(stack: Stack) -> None:
    offenders = [
        logical_id
        for logical_id, policy in stack.of_type("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "*" in as_set(statement["Resource"])
    ]

    assert offenders == []


def test_given_every_policy_in_the_template_when_reading_effects_then_all_allow_and_none_uses_not_action(
    stack: Stack,
) -> None:
    for where, statement in stack.all_policy_statements():
        assert statement["Effect"] == "Allow", where
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), where


def test_given_the_api_function_when_reading_its_lambda_grant_then_it_may_invoke_the_refresh_function_only(
    stack: Stack,
) -> None:
    invokes = [
        s for fn in FUNCTIONS for s in stack.statements_of(fn) if "lambda:InvokeFunction" in actions_of(s)
    ]

    assert invokes == [
        s for s in stack.statements_of("ApiFunction") if "lambda:InvokeFunction" in actions_of(s)
    ]
    assert [s["Resource"] for s in invokes] == [{"Fn::GetAtt": ["RefreshFunction", "Arn"]}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_publishing_function_when_reading_its_events_grant_then_it_may_put_to_the_broker_bus_only(
    stack: Stack, function: str
) -> None:
    puts = [s for s in stack.statements_of(function) if "events:PutEvents" in actions_of(s)]

    assert all(s["Resource"] == BUS_ARN for s in puts)


def test_given_the_webhook_function_when_reading_its_sqs_grant_then_it_may_send_to_its_dead_letter_queue_only(
    stack: Stack,
) -> None:
    sends = [s for s in stack.statements_of("WebhookFunction") if "sqs:SendMessage" in actions_of(s)]

    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_a_function_when_reading_its_key_grants_then_it_may_use_the_table_key_via_dynamodb_only(
    stack: Stack, function: str
) -> None:
    assert stack.table_key_statements_of(function) == [
        {
            "Sid": "TableKeyViaDynamoDB",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": KEY_ARN,
            "Condition": TABLE_KEY_CONDITION,
        }
    ]


def test_given_the_key_policy_when_reading_the_table_key_grant_then_every_role_may_use_it_via_dynamodb_only(
    stack: Stack,
) -> None:
    (statement,) = [s for s in stack.key_policy_statements() if "kms:ViaService" in str(s.get("Condition"))]

    assert statement["Principal"]["AWS"] == [{"Fn::GetAtt": [stack.role_of(fn), "Arn"]} for fn in FUNCTIONS]
    assert statement["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert statement["Condition"] == TABLE_KEY_CONDITION
