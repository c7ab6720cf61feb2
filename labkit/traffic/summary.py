"""What one traffic action did: throughput (sysbench) and the audit output it caused on each instance."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.traffic.audit import InstanceAudit


@dataclass(frozen=True)
class TrafficSummary:
    """Returned by every prepare, run, cleanup and scenario.

    ``transactions_per_s`` and ``queries_per_s`` come from sysbench's own report (None for actions that
    are not sysbench runs); ``audit`` holds one entry per instance, including the one not targeted, so
    a reader run that shows up on the writer (or the reverse) is visible.
    """

    action: str  # prepare | run | cleanup | scenario:<name>
    target: str  # writer | reader: where the statements went
    instance_id: str
    duration_s: float  # wall time, connection set-up included
    audit: tuple[InstanceAudit, ...]
    workload: str | None = None
    transactions_per_s: float | None = None
    queries_per_s: float | None = None
    transactions: int | None = None
    queries: int | None = None
    statements: int | None = None  # statements a scenario sent (sysbench: see queries)

    def audit_for(self, role: str) -> InstanceAudit:
        for entry in self.audit:
            if entry.role == role:
                return entry
        raise KeyError(f"no audit figures for a {role} instance")

    @property
    def audit_lines(self) -> int:
        return sum(entry.lines for entry in self.audit)

    @property
    def audit_bytes(self) -> int:
        return sum(entry.bytes for entry in self.audit)

    def audit_rate(self, role: str) -> tuple[float, float]:
        """(MB/s, lines/s) of audit output on the instance with ``role`` over the action's duration."""
        entry = self.audit_for(role)
        seconds = max(self.duration_s, 1e-9)
        return entry.bytes / 1e6 / seconds, entry.lines / seconds
