"""template.yaml read as plain YAML (CloudFormation short tags kept as data).

`Stack` answers the questions the tests ask (a function's role, its IAM statements, its HTTP
routes...) so that each test reads as the behaviour it checks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauth_broker_dev.template import load_template as _load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

FUNCTIONS = (
    "AuthorizerFunction",
    "AuthorizeFunction",
    "CallbackFunction",
    "ApiFunction",
    "ProxyFunction",
    "RefreshFunction",
    "WebhookFunction",
    "RiscFunction",
    "GmailPushFunction",
)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template parsed by the same loader the local runtime uses (a fresh copy: tests may mutate)."""
    return copy.deepcopy(_load_template(path))


def as_set(value: Any) -> set[Any]:
    """An IAM Action/Resource field (one value or a list) as a set of hashable values."""
    values = value if isinstance(value, list) else [value]
    return {repr(v) if isinstance(v, dict | list) else v for v in values}


def actions_of(statement: dict[str, Any]) -> set[str]:
    return {str(a) for a in as_set(statement["Action"])}


def is_envelope_grant(statement: dict[str, Any]) -> bool:
    """A KMS grant for the broker's envelope encryption: pinned to an encryption-context purpose."""
    return "kms:EncryptionContext:purpose" in (statement.get("Condition") or {}).get("StringEquals", {})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    public: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Stack:
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return props

    # ----------------------------------------------------------------- functions and IAM
    def role_of(self, function: str) -> str:
        role = self.props(function)["Role"]
        assert role.get("Fn::GetAtt", [None, None])[1] == "Arn", f"{function}: Role is not !GetAtt X.Arn"
        role_id: str = role["Fn::GetAtt"][0]
        return role_id

    def policies_of(self, function: str) -> dict[str, dict[str, Any]]:
        """The AWS::IAM::Policy resources attached to the function's role."""
        role = self.role_of(function)
        return {
            k: v
            for k, v in self.of_type("AWS::IAM::Policy").items()
            if {"Ref": role} in v["Properties"]["Roles"]
        }

    def statements_of(self, function: str) -> list[dict[str, Any]]:
        return [
            s
            for p in self.policies_of(function).values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]

    def actions_of(self, function: str) -> set[str]:
        return {a for s in self.statements_of(function) for a in actions_of(s)}

    def kms_statements_of(self, function: str) -> list[dict[str, Any]]:
        """The function's envelope-encryption grants: KMS statements pinned to a purpose (not the
        table-key statement, which allows KMS only through DynamoDB)."""
        return [
            s
            for s in self.statements_of(function)
            if any(a.startswith("kms:") for a in actions_of(s)) and is_envelope_grant(s)
        ]

    def table_key_statements_of(self, function: str) -> list[dict[str, Any]]:
        """KMS statements that allow the key only through another service (kms:ViaService)."""
        return [
            s
            for s in self.statements_of(function)
            if "dynamodb." in str((s.get("Condition") or {}).get("StringEquals", {}).get("kms:ViaService"))
        ]

    def key_policy_statements(self) -> list[dict[str, Any]]:
        key = self.props("BrokerKey")
        statements: list[dict[str, Any]] = key["KeyPolicy"]["Statement"]
        return statements

    def key_policy_statements_for(self, function: str) -> list[dict[str, Any]]:
        principal = {"Fn::GetAtt": [self.role_of(function), "Arn"]}
        return [s for s in self.key_policy_statements() if s.get("Principal", {}).get("AWS") == principal]

    def all_policy_statements(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, statement) for every policy document in the template."""
        for logical_id, res in self.resources.items():
            props = res.get("Properties", {})
            for field in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
                doc = props.get(field)
                if isinstance(doc, dict):
                    for statement in doc["Statement"]:
                        yield f"{logical_id}.{field}", statement
            for inline in props.get("Policies") or []:
                if isinstance(inline, dict) and "PolicyDocument" in inline:
                    for statement in inline["PolicyDocument"]["Statement"]:
                        yield f"{logical_id}.Policies", statement

    # ----------------------------------------------------------------- HTTP API
    def routes_of(self, function: str) -> set[Route]:
        routes = set()
        for event in (self.props(function).get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            ev = event["Properties"]
            public = (ev.get("Auth") or {}).get("Authorizer") == "NONE"
            routes.add(Route(str(ev["Method"]).upper(), ev["Path"], public))
        return routes

    def http_events(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (fn, ev["Properties"])
            for fn in self.of_type("AWS::Serverless::Function")
            for ev in (self.props(fn).get("Events") or {}).values()
            if ev["Type"] == "HttpApi"
        ]

    def events_of_type(self, function: str, event_type: str) -> list[dict[str, Any]]:
        return [
            ev["Properties"]
            for ev in (self.props(function).get("Events") or {}).values()
            if ev["Type"] == event_type
        ]
