"""What the checkov scan (`make security-scan`) is told to skip, and the fixes it asked for.

checkov itself runs in its own environment (scripts/security_scan.sh); these checks pin the
suppressions in template.yaml, so a new one is a reviewed change with its reason beside it.
"""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.infra_template import FUNCTIONS, Stack

REQUEST_PATH = {
    "AuthorizerFunction",
    "AuthorizeFunction",
    "CallbackFunction",
    "ApiFunction",
    "ProxyFunction",
    "RiscFunction",
    "GmailPushFunction",
}

# resource -> the checks skipped on it (each with its reason in the template)
EXPECTED_SKIPS: dict[str, set[str]] = {
    **{fn: {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"} for fn in REQUEST_PATH},
    "RefreshFunction": {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "WebhookFunction": {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "ApiAccessLogs": {"CKV_AWS_158"},
    # SQS-managed encryption (SqsManagedSseEnabled), which CKV_AWS_27 does not recognise
    "RefreshQueue": {"CKV_AWS_27"},
    "RefreshDeadLetterQueue": {"CKV_AWS_27"},
}


def skips_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    skips: list[dict[str, Any]] = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return skips


def test_given_the_template_when_listing_checkov_suppressions_then_they_are_exactly_the_reviewed_ones(
    stack: Stack,
) -> None:
    found = {k: {s["id"] for s in skips_of(r)} for k, r in stack.resources.items() if skips_of(r)}

    assert found == EXPECTED_SKIPS


def test_given_a_checkov_suppression_when_reading_it_then_it_names_a_check_and_gives_a_reason(
    stack: Stack,
) -> None:
    for logical_id, resource in stack.resources.items():
        for skip in skips_of(resource):
            assert set(skip) == {"id", "comment"}, logical_id
            assert str(skip["id"]).startswith("CKV_"), logical_id
            assert len(str(skip["comment"]).split()) >= 8, f"{logical_id} {skip['id']}: reason too thin"


@pytest.mark.parametrize(
    ("function", "parameter", "condition"),
    [
        ("RefreshFunction", "RefreshReservedConcurrency", "RefreshConcurrencyReserved"),
        ("WebhookFunction", "WebhookReservedConcurrency", "WebhookConcurrencyReserved"),
    ],
)
def test_given_a_function_a_runaway_would_hurt_when_reading_its_concurrency_then_a_parameter_reserves_it(
    stack: Stack, function: str, parameter: str, condition: str
) -> None:
    param = stack.template["Parameters"][parameter]

    assert stack.props(function)["ReservedConcurrentExecutions"] == {
        "Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
    }
    assert stack.template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
    assert param["Type"] == "Number" and 1 <= param["Default"] <= 50


@pytest.mark.parametrize("function", sorted(REQUEST_PATH))
def test_given_a_request_path_function_when_reading_its_concurrency_then_nothing_reserves_it(
    stack: Stack, function: str
) -> None:
    assert function in FUNCTIONS
    assert "ReservedConcurrentExecutions" not in stack.props(function)
