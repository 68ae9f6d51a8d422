"""The audit trail's retention is a template parameter that reaches every function's environment."""

from __future__ import annotations

from typing import Any


def test_given_the_template_then_audit_retention_is_a_parameter_of_400_days_by_default(
    template: dict[str, Any],
):
    parameter = template["Parameters"]["AuditRetentionDays"]
    assert parameter["Type"] == "Number" and parameter["Default"] == 400
    assert parameter["MinValue"] >= 1


def test_given_the_functions_then_each_gets_the_retention_from_the_parameter(template: dict[str, Any]):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
