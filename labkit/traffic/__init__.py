"""Traffic for the local lab: sysbench workloads and audit scenarios, each measured in audit output.

from labkit import traffic
spec = traffic.TrafficSpec("oltp_read_write", intensity="low")   # validated here
traffic.prepare(spec, config)                                     # sbtest tables on the writer
summary = traffic.run(spec, config)                               # tps, qps, audit lines/bytes
traffic.run_scenarios("all", config)                              # adhoc, ddl, users, failed-logins
"""

from __future__ import annotations

from labkit.traffic.audit import AuditMeter, InstanceAudit
from labkit.traffic.scenarios import run_scenarios
from labkit.traffic.spec import INTENSITIES, PRESETS, SCENARIOS, TARGETS, WORKLOADS, Intensity, TrafficSpec
from labkit.traffic.summary import TrafficSummary
from labkit.traffic.sysbench import ProgressTick, cleanup, prepare, run

__all__ = [
    "INTENSITIES",
    "PRESETS",
    "SCENARIOS",
    "TARGETS",
    "WORKLOADS",
    "AuditMeter",
    "InstanceAudit",
    "Intensity",
    "ProgressTick",
    "TrafficSpec",
    "TrafficSummary",
    "cleanup",
    "prepare",
    "run",
    "run_scenarios",
]
