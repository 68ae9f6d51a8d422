"""The table (which moto tables are created from) and the envelope key."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.infra_template import Stack

MOTO_READS = (
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "TimeToLiveSpecification",
)


def contains_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k == "Ref" or k.startswith("Fn::") or contains_intrinsic(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_intrinsic(v) for v in value)
    return False


@pytest.fixture(scope="module")
def table(stack: Stack) -> dict[str, Any]:
    logical_id, _ = stack.only("AWS::DynamoDB::Table")
    assert logical_id == "Table"
    return stack.props("Table")


def key_schema(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def test_given_the_template_when_looking_for_tables_then_there_is_one_plain_dynamodb_table(
    stack: Stack,
) -> None:
    assert list(stack.of_type("AWS::DynamoDB::Table")) == ["Table"]
    assert stack.of_type("AWS::Serverless::SimpleTable") == {}


def test_given_the_table_when_reading_billing_then_it_is_on_demand(table: dict[str, Any]) -> None:
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in table


def test_given_the_table_when_reading_its_keys_then_they_are_string_pk_and_sk(table: dict[str, Any]) -> None:
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}

    assert key_schema(table["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert (types["pk"], types["sk"]) == ("S", "S")


def test_given_the_table_when_listing_its_indexes_then_they_are_exactly_the_four_the_code_queries(
    table: dict[str, Any],
) -> None:
    indexes = {
        gsi["IndexName"]: (key_schema(gsi["KeySchema"]), gsi["Projection"]["ProjectionType"])
        for gsi in table["GlobalSecondaryIndexes"]
    }

    assert indexes == {
        "ByOwner": ([("owner_pk", "HASH"), ("owner_sk", "RANGE")], "ALL"),
        "ByTenant": ([("tenant_pk", "HASH"), ("tenant_sk", "RANGE")], "ALL"),
        "ByRefreshDue": ([("due_pk", "HASH"), ("due_at", "RANGE")], "KEYS_ONLY"),
        "ByProviderClient": ([("pclient_pk", "HASH"), ("pclient_sk", "RANGE")], "KEYS_ONLY"),
    }


def test_given_the_table_when_reading_attribute_types_then_due_at_is_a_number_and_every_other_key_a_string(
    table: dict[str, Any],
) -> None:
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}

    assert types == {
        "pk": "S",
        "sk": "S",
        "owner_pk": "S",
        "owner_sk": "S",
        "tenant_pk": "S",
        "tenant_sk": "S",
        "due_pk": "S",
        "pclient_pk": "S",
        "pclient_sk": "S",
        "due_at": "N",
    }


def test_given_the_table_when_reading_ttl_then_it_is_enabled_on_the_ttl_attribute(
    table: dict[str, Any],
) -> None:
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_given_the_table_when_reading_backups_then_point_in_time_recovery_is_on(
    table: dict[str, Any],
) -> None:
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_given_the_table_when_reading_encryption_then_it_is_encrypted_with_the_stacks_customer_managed_key(
    table: dict[str, Any],
) -> None:
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["BrokerKey", "Arn"]},
    }


def test_given_the_table_when_reading_deletion_protection_then_it_follows_the_deletion_protection_parameter(
    stack: Stack, table: dict[str, Any]
) -> None:
    parameter = stack.template["Parameters"]["DeletionProtection"]

    assert parameter["AllowedValues"] == ["true", "false"]
    assert parameter["Default"] == "true"
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["DeletionProtectionEnabled", True, False]}
    assert stack.template["Conditions"]["DeletionProtectionEnabled"] == {
        "Fn::Equals": [{"Ref": "DeletionProtection"}, "true"]
    }


@pytest.mark.parametrize("logical_id", ["Table", "BrokerKey"])
def test_given_a_stateful_resource_when_the_stack_deletes_or_replaces_it_then_it_is_retained(
    stack: Stack, logical_id: str
) -> None:
    resource = stack.resources[logical_id]

    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("field", MOTO_READS)
def test_given_the_table_when_local_tools_read_its_definition_then_the_field_is_literal_data(
    table: dict[str, Any], field: str
) -> None:
    assert field in table
    assert not contains_intrinsic(table[field])


def test_given_the_broker_key_when_reading_it_then_it_is_a_symmetric_key_with_rotation_on(
    stack: Stack,
) -> None:
    key = stack.props("BrokerKey")

    assert stack.resources["BrokerKey"]["Type"] == "AWS::KMS::Key"
    assert key["EnableKeyRotation"] is True
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT"


def test_given_the_broker_key_when_looking_for_its_alias_then_one_alias_targets_it(stack: Stack) -> None:
    aliases = stack.of_type("AWS::KMS::Alias")

    assert [a["Properties"]["TargetKeyId"] for a in aliases.values()] == [{"Ref": "BrokerKey"}]


def test_given_the_event_bus_when_reading_its_name_then_it_is_named_after_the_stack(stack: Stack) -> None:
    logical_id, bus = stack.only("AWS::Events::EventBus")

    assert logical_id == "EventBus"
    assert bus["Properties"]["Name"] == {"Ref": "AWS::StackName"}
