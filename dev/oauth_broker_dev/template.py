"""Reads template.yaml: the HTTP routes, the authorizer settings and the table definition.

The local runtime and the tests take these from the template itself, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """A YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as plain data."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@lru_cache(maxsize=4)
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return data


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ..., or ANY
    path: str  # API Gateway form: /v1/connections/{id}/proxy/{path+}
    function: str  # logical id, e.g. ApiFunction
    code_dir: str  # functions/api
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@lru_cache(maxsize=4)
def http_routes(path: Path = TEMPLATE_PATH) -> tuple[Route, ...]:
    template = load_template(path)
    routes = []
    for logical_id, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            ev = event["Properties"]
            auth = (ev.get("Auth") or {}).get("Authorizer")
            routes.append(
                Route(
                    method=str(ev["Method"]).upper(),
                    path=ev["Path"],
                    function=logical_id,
                    code_dir=str(props["CodeUri"]).rstrip("/"),
                    authorized=auth != "NONE",
                )
            )
    return tuple(routes)


def function_code_dirs(path: Path = TEMPLATE_PATH) -> dict[str, str]:
    """logical id -> CodeUri, and short name (e.g. 'api') -> CodeUri."""
    template = load_template(path)
    out: dict[str, str] = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            code = str(res["Properties"]["CodeUri"]).rstrip("/")
            out[logical_id] = code
            out[Path(code).name] = code
    return out


def resolve_default(value: Any, path: Path = TEMPLATE_PATH) -> Any:
    """A `!Ref Parameter` replaced by the parameter's default (other values unchanged)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = load_template(path).get("Parameters", {}).get(value["Ref"])
        if param is None:
            raise LookupError(f"unresolvable reference {value['Ref']!r}")
        return param.get("Default")
    return value


def authorizer_settings(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The default authorizer: identity headers and cache TTL (parameter defaults resolved)."""
    template = load_template(path)
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::Serverless::HttpApi":
            auth = res["Properties"]["Auth"]
            name = auth["DefaultAuthorizer"]
            settings = dict(auth["Authorizers"][name])
            identity = dict(settings.get("Identity") or {})
            return {
                "headers": list(identity.get("Headers") or ["Authorization"]),
                "ttl_seconds": float(resolve_default(identity.get("ReauthorizeEvery", 300), path)),
                "raw": settings,
            }
    raise LookupError("no HttpApi in the template")


def table_definition(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """CreateTable arguments for the broker's table, taken from the template's Table resource."""
    template = load_template(path)
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::DynamoDB::Table":
            p = res["Properties"]
            args: dict[str, Any] = {
                "KeySchema": p["KeySchema"],
                "AttributeDefinitions": p["AttributeDefinitions"],
                "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if p.get("GlobalSecondaryIndexes"):
                args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
            ttl = p.get("TimeToLiveSpecification")
            return {"create": args, "ttl_attribute": ttl["AttributeName"] if ttl else None}
    raise LookupError("no AWS::DynamoDB::Table in the template")
