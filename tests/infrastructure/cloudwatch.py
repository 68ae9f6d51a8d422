"""The metrics the template's alarms and dashboard read, as plain data, for the checks against
`oauth_broker.metrics_catalog`.

An alarm reads one metric (Namespace, MetricName, Dimensions, Statistic) or several (Metrics:
MetricStat entries and one expression). The dashboard is a `!Sub` JSON string: its widgets name
metrics as rows (`[namespace, name, dim, value, ..., {options}]`) or as SEARCH expressions over a
schema (`SEARCH('{Namespace,dim,...} MetricName="x" dim="v"', 'Stat')`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from infrastructure.infra_template import Stack

STACK_NAME = "stack-under-test"
REGION = "eu-west-1"

# A reference inside !Sub: ${Param}, ${Resource}, ${Resource.Attr}, ${AWS::Pseudo}
SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")
SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s*(.*?)',\s*'([^']+)'\)")
SEARCH_TERM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class MetricUse:
    """One metric an alarm or a widget reads. `dimensions`: name -> value (None: any value, a
    SEARCH schema dimension left unfiltered)."""

    where: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, Any], ...]
    stat: str | None

    @property
    def dims(self) -> dict[str, Any]:
        return dict(self.dimensions)


def alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    return {k: stack.props(k) for k in stack.of_type("AWS::CloudWatch::Alarm")}


def alarm_metrics(logical_id: str, props: dict[str, Any]) -> list[MetricUse]:
    """The metrics an alarm reads (its expression's inputs, for a metric-math alarm)."""
    if "Metrics" not in props:
        dims = tuple((d["Name"], d["Value"]) for d in props.get("Dimensions") or [])
        return [MetricUse(logical_id, props["Namespace"], props["MetricName"], dims, props["Statistic"])]
    uses = []
    for query in props["Metrics"]:
        stat = query.get("MetricStat")
        if stat is None:
            continue
        metric = stat["Metric"]
        dims = tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
        uses.append(
            MetricUse(
                f"{logical_id}.{query['Id']}", metric["Namespace"], metric["MetricName"], dims, stat["Stat"]
            )
        )
    return uses


def substituted(sub: Any, *, stack_name: str = STACK_NAME) -> str:
    """A `!Sub` string with every reference replaced: pseudo parameters by sample values, a
    resource or parameter by `<Name>` (or `<Name.Attr>`)."""
    assert isinstance(sub, dict) and set(sub) == {"Fn::Sub"}, sub
    text = sub["Fn::Sub"]
    assert isinstance(text, str), "a !Sub with a variables map is not expected here"
    samples = {"AWS::StackName": stack_name, "AWS::Region": REGION}
    return SUB_REFERENCE.sub(lambda m: samples.get(m.group(1), f"<{m.group(1)}>"), text)


def sub_references(sub: dict[str, Any]) -> set[str]:
    return set(SUB_REFERENCE.findall(sub["Fn::Sub"]))


def dashboard_body(stack: Stack, logical_id: str = "BrokerDashboard") -> dict[str, Any]:
    body: dict[str, Any] = json.loads(substituted(stack.props(logical_id)["DashboardBody"]))
    return body


def widget_metrics(widget: dict[str, Any]) -> list[MetricUse]:
    """The metrics a dashboard widget reads: its metric rows and its SEARCH expressions."""
    props = widget.get("properties") or {}
    title = str(props.get("title"))
    default_stat = props.get("stat")
    uses = []
    for row in props.get("metrics") or []:
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        fields = row[:-1] if options else row
        if not fields:
            for search in SEARCH.finditer(str(options.get("expression", ""))):
                uses.append(_search_use(title, *search.groups()))
            continue
        namespace, name, *pairs = fields
        assert namespace != ".", f"{title}: write the namespace out, not '.'"
        dims = tuple((str(pairs[i]), pairs[i + 1]) for i in range(0, len(pairs), 2))
        uses.append(MetricUse(title, namespace, name, dims, options.get("stat", default_stat)))
    return uses


def _search_use(where: str, schema: str, terms: str, stat: str) -> MetricUse:
    namespace, *dim_names = [part.strip() for part in schema.split(",")]
    filters = dict(SEARCH_TERM.findall(terms))
    name = filters.pop("MetricName")
    assert set(filters) <= set(dim_names), f"{where}: filters {filters} outside the schema {dim_names}"
    dims = tuple((d, filters.get(d)) for d in dim_names)
    return MetricUse(where, namespace, name, dims, stat)


def dashboard_metrics(stack: Stack) -> list[MetricUse]:
    return [use for widget in dashboard_body(stack)["widgets"] for use in widget_metrics(widget)]
