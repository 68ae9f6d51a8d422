"""Reading the broker's metrics in tests: the EMF lines a function wrote on stdout, or the metrics
of one invocation bound by hand around domain code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from oauth_broker.observability import InvocationMetrics, bound_metrics


@dataclass(frozen=True)
class Datum:
    """One metric of one EMF document: its name, unit, dimensions (all of them, `service` too) and
    its values."""

    name: str
    unit: str
    dimensions: dict[str, str]
    values: tuple[float, ...]
    namespace: str


def emf_data(text: str) -> list[Datum]:
    """Every metric of every EMF document among the lines of `text` (other lines are skipped)."""
    data: list[Datum] = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            (dimension_names,) = directive["Dimensions"]  # one dimension set per document
            dims = {name: str(doc[name]) for name in dimension_names}
            for spec in directive["Metrics"]:
                raw = doc[spec["Name"]]
                values = tuple(float(v) for v in (raw if isinstance(raw, list) else [raw]))
                data.append(Datum(spec["Name"], spec["Unit"], dims, values, directive["Namespace"]))
    return data


def total(data: list[Datum], name: str, **dimensions: str) -> float:
    """The sum of `name`'s values over the documents whose dimensions include `dimensions`."""
    return sum(
        sum(d.values)
        for d in data
        if d.name == name and all(d.dimensions.get(k) == v for k, v in dimensions.items())
    )


@dataclass
class Recorded:
    lines: list[str] = field(default_factory=list)

    @property
    def data(self) -> list[Datum]:
        return emf_data("\n".join(self.lines))

    def total(self, name: str, **dimensions: str) -> float:
        return total(self.data, name, **dimensions)


@contextmanager
def recorded_metrics(function: str = "refresh") -> Iterator[Recorded]:
    """Binds one invocation's metrics (of `function`) around the block, as the handler's
    `@observed` does, and flushes them into the returned `Recorded` when the block ends."""
    recorded = Recorded()
    metrics = InvocationMetrics(function, emit=recorded.lines.append)
    with bound_metrics(metrics):
        yield recorded
    metrics.flush()
