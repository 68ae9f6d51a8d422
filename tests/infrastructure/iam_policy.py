"""A small IAM evaluator for the subset of policy language template.yaml uses, offline.

Hand-written because nothing evaluates a CloudFormation template's policies offline: the IAM
policy simulator is an AWS API (it needs credentials, a deployed ARN and resolved intrinsics),
and the Python policy tools (policyuniverse, parliament, cloudsplaining) lint or classify
actions; none decides "is this request allowed by these statements" with conditions on
`dynamodb:LeadingKeys` or the KMS encryption context, let alone with `!GetAtt`/`!Sub` left in.

Requests are the recorded calls (`brokertest.aws_recorder.AwsCall`), with resources named
symbolically: `table`, `index/<name>`, `key`, `bus`, `function/<logical id>`, `queue/<logical id>`.

What is understood (anything else raises `UnsupportedPolicy`, so a template change the evaluator
does not model fails loudly instead of being misjudged):
- `Effect: Allow` statements with `Action` (one or a list, no wildcards) and `Resource`:
  `!GetAtt X.Arn` or `!Sub ${Table.Arn}/index/<name or *>`;
- `ForAllValues:StringLike` on `dynamodb:LeadingKeys`, patterns `PREFIX#*` or an exact value.
  AWS documents the key as the partition key value(s) the request names ("the first key
  attribute of a table"); a Query names only the partition key of what it queries, which for an
  index is the index's partition key: that is the value a Query on an index is checked against
  (AWS's example 5 of "Using IAM policy conditions for fine-grained access control" puts a table
  and an index in one LeadingKeys statement). A recorded prefix `CON#` stands for every value
  that starts with it, so only a pattern covering them all (`CON#*`) allows it;
- `StringEquals` on `kms:EncryptionContext:purpose`; `ForAllValues:StringEquals` on
  `kms:EncryptionContextKeys`; `Null` false on `kms:EncryptionContext:<key>`;
- `StringEquals` on `kms:ViaService` (and `kms:CallerAccount`): such a statement allows only
  requests another service makes on the function's behalf (DynamoDB decrypting the table key),
  never a call the function makes itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

from brokertest.aws_recorder import AwsCall


class UnsupportedPolicy(ValueError):
    """A statement uses policy language this evaluator does not model."""


_INDEX_SUB = re.compile(r"^\$\{Table\.Arn\}/index/([\w*-]+)$")


def resource_name(value: Any, resource_types: Mapping[str, str]) -> str:
    """A statement's Resource entry as the symbolic name the recorder uses."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attr = value["Fn::GetAtt"]
        if attr != "Arn":
            raise UnsupportedPolicy(f"Resource !GetAtt {logical_id}.{attr}")
        kind = resource_types.get(logical_id, "")
        if kind == "AWS::DynamoDB::Table":
            return "table"
        if kind == "AWS::KMS::Key":
            return "key"
        if kind == "AWS::Events::EventBus":
            return "bus"
        if kind == "AWS::Serverless::Function":
            return f"function/{logical_id}"
        if kind == "AWS::SQS::Queue":
            return f"queue/{logical_id}"
        raise UnsupportedPolicy(f"Resource !GetAtt {logical_id}.Arn of type {kind or 'unknown'}")
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        m = _INDEX_SUB.match(value["Fn::Sub"])
        if m:
            return f"index/{m.group(1)}"
    raise UnsupportedPolicy(f"Resource {value!r}")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def key_pattern_covers(pattern: str, prefix: str) -> bool:
    """Does a LeadingKeys StringLike pattern match every partition key value with this prefix?"""
    if "?" in pattern or "*" in pattern[:-1]:
        raise UnsupportedPolicy(f"LeadingKeys pattern {pattern!r} (only PREFIX* or an exact value)")
    if prefix.endswith("#"):  # stands for every value that starts with it
        return pattern.endswith("*") and prefix.startswith(pattern[:-1])
    return pattern == prefix or (pattern.endswith("*") and prefix.startswith(pattern[:-1]))


@dataclass(frozen=True)
class Grant:
    """One Allow statement, parsed."""

    sid: str
    actions: frozenset[str]
    resources: frozenset[str]
    leading_keys: frozenset[str] | None = None
    purposes: frozenset[str] | None = None
    context_keys: frozenset[str] | None = None
    required_context: frozenset[str] = frozenset()
    via_service: str | None = None

    @classmethod
    def parse(cls, statement: Mapping[str, Any], resource_types: Mapping[str, str]) -> Grant:
        sid = str(statement.get("Sid", "?"))
        unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
        if statement.get("Effect") != "Allow" or unknown:
            raise UnsupportedPolicy(f"{sid}: only Allow statements with Action/Resource/Condition")
        actions = frozenset(str(a) for a in _list(statement["Action"]))
        if any("*" in a for a in actions):
            raise UnsupportedPolicy(f"{sid}: wildcard action")
        resources = frozenset(resource_name(r, resource_types) for r in _list(statement["Resource"]))
        fields: dict[str, Any] = {}
        for operator, conditions in (statement.get("Condition") or {}).items():
            for key, value in conditions.items():
                values = frozenset(str(v) for v in _list(value))
                if (operator, key) == ("ForAllValues:StringLike", "dynamodb:LeadingKeys"):
                    fields["leading_keys"] = values
                elif (operator, key) == ("StringEquals", "kms:EncryptionContext:purpose"):
                    fields["purposes"] = values
                elif (operator, key) == ("ForAllValues:StringEquals", "kms:EncryptionContextKeys"):
                    fields["context_keys"] = values
                elif operator == "Null" and key.startswith("kms:EncryptionContext:") and value == "false":
                    fields["required_context"] = fields.get("required_context", frozenset()) | {
                        key.removeprefix("kms:EncryptionContext:")
                    }
                elif (operator, key) == ("StringEquals", "kms:ViaService"):
                    fields["via_service"] = str(value)
                elif (operator, key) == ("StringEquals", "kms:CallerAccount"):
                    pass  # the stack's own account: every call the functions make
                else:
                    raise UnsupportedPolicy(f"{sid}: condition {operator} {key}")
        return cls(sid, actions, resources, **fields)

    # ---------------------------------------------------------------- evaluation
    def allows(self, call: AwsCall) -> bool:
        if self.via_service is not None:
            return False  # only requests another service makes for the function
        if call.action not in self.actions or not any(_glob(r, call.resource) for r in self.resources):
            return False
        if (
            self.leading_keys is not None
            and call.service == "dynamodb"
            and not any(key_pattern_covers(p, call.key_prefix) for p in self.leading_keys)
        ):
            return False
        if self.purposes is not None and call.purpose not in self.purposes:
            return False
        if self.context_keys is not None and not set(call.context_keys) <= self.context_keys:
            return False
        return self.required_context <= set(call.context_keys)

    def elements(self) -> Iterable[tuple[str, str, str | None, str | None]]:
        """Everything the statement allows, one (action, resource, key pattern, purpose) each."""
        keys: Iterable[str | None] = sorted(self.leading_keys) if self.leading_keys is not None else [None]
        purposes: Iterable[str | None] = sorted(self.purposes) if self.purposes is not None else [None]
        return product(sorted(self.actions), sorted(self.resources), list(keys), list(purposes))

    def element_used(
        self, element: tuple[str, str, str | None, str | None], calls: Iterable[AwsCall]
    ) -> bool:
        action, resource, pattern, purpose = element
        return any(
            c.action == action
            and _glob(resource, c.resource)
            and (pattern is None or key_pattern_covers(pattern, c.key_prefix))
            and (purpose is None or c.purpose == purpose)
            and self.allows(c)
            for c in calls
        )


def _glob(pattern: str, name: str) -> bool:
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def describe_element(element: tuple[str, str, str | None, str | None]) -> str:
    action, resource, pattern, purpose = element
    out = f"{action} on {resource}"
    if pattern is not None:
        out += f" for keys {pattern}"
    if purpose is not None:
        out += f" for purpose {purpose}"
    return out


def describe_call(call: AwsCall) -> str:
    out = f"{call.action} on {call.resource}"
    if call.service == "dynamodb":
        out += f" for keys {call.key_prefix}"
    if call.service == "kms":
        out += f" for purpose {call.purpose}"
    return out


# -------------------------------------------------------------------- suggested statements
def suggested_statements(calls: Iterable[AwsCall]) -> list[dict[str, Any]]:
    """The least statements that allow exactly these calls (template.yaml's own shape)."""
    dynamodb: dict[str, dict[str, set[str]]] = {}  # resource -> action -> key prefixes
    kms: dict[str, set[str]] = {}  # action -> purposes
    other: dict[tuple[str, str], None] = {}
    for c in calls:
        if c.service == "dynamodb":
            dynamodb.setdefault(c.resource, {}).setdefault(c.action, set()).add(c.key_prefix)
        elif c.service == "kms":
            kms.setdefault(c.action, set()).add(c.purpose)
        else:
            other[(c.action, c.resource)] = None
    out: list[dict[str, Any]] = []
    for resource in sorted(dynamodb, key=lambda r: (r != "table", r)):
        by_keys: dict[frozenset[str], list[str]] = {}
        for action, prefixes in sorted(dynamodb[resource].items()):
            by_keys.setdefault(frozenset(prefixes), []).append(action)
        for prefixes, actions in by_keys.items():
            patterns = sorted(p + "*" if p.endswith("#") else p for p in prefixes)
            out.append(
                {
                    "Action": actions,
                    "Resource": _cfn_resource(resource),
                    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": patterns}},
                }
            )
    by_purposes: dict[frozenset[str], list[str]] = {}
    for action, purposes in sorted(kms.items()):
        by_purposes.setdefault(frozenset(purposes), []).append(action)
    for purposes, actions in by_purposes.items():
        out.append(
            {
                "Action": actions,
                "Resource": "!GetAtt BrokerKey.Arn",
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:purpose": sorted(purposes)},
                    "...": "...",
                },
            }
        )
    for action, resource in other:
        out.append({"Action": action, "Resource": _cfn_resource(resource)})
    return out


def _cfn_resource(resource: str) -> str:
    if resource == "table":
        return "!GetAtt Table.Arn"
    if resource.startswith("index/"):
        return f"!Sub ${{Table.Arn}}/{resource}"
    if resource == "bus":
        return "!GetAtt EventBus.Arn"
    if resource.startswith(("function/", "queue/")):
        return f"!GetAtt {resource.split('/', 1)[1]}.Arn"
    return resource


def render(statements: list[dict[str, Any]]) -> str:
    """Suggested statements as YAML-ish lines to paste into a policy (conditions of KMS
    statements keep the template's context-key and Null conditions: shown as `...`)."""
    lines = []
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        lines.append(f"  - Action: [{', '.join(actions)}]")
        lines.append(f"    Resource: {s['Resource']}")
        for operator, conditions in (s.get("Condition") or {}).items():
            if operator == "...":
                lines.append("      # + the template's ForAllValues:StringEquals / Null context conditions")
                continue
            for key, values in conditions.items():
                lines.append(f"    Condition: {{{operator}: {{{key}: [{', '.join(values)}]}}}}")
    return "\n".join(lines)
