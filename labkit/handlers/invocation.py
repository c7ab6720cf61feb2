"""What the three handlers share per invocation: the metrics it counts, published together at its end.

Every invocation keeps its own batch processor and its own ``Tally``, and publishes it in one locked
add-and-flush. On Lambda an execution environment runs one invocation at a time; the local runtime runs
invocations side by side in one process, and powertools' metric set is shared by the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

_publishing = threading.Lock()


@dataclass
class Tally:
    """The metrics of one invocation, in the order they were counted."""

    entries: list[tuple[str, MetricUnit, float]] = field(default_factory=list)

    def add(self, name: str, unit: MetricUnit, value: float) -> None:
        self.entries.append((name, unit, value))

    def count(self, name: str, value: float = 1) -> None:
        self.add(name, MetricUnit.Count, value)

    def total(self, name: str) -> float:
        return sum(value for n, _, value in self.entries if n == name)


def publish(metrics: Metrics, tally: Tally) -> None:
    """Add the invocation's metrics and flush them as one EMF record (nothing when it counted none)."""
    if not tally.entries:  # powertools would warn "No application metrics to publish"
        return
    with _publishing:
        for name, unit, value in tally.entries:
            metrics.add_metric(name=name, unit=unit, value=value)
        metrics.flush_metrics(raise_on_empty_metrics=False)
