"""Dashboards of the backup: pandas frames and matplotlib charts for the notebooks (never for the Lambdas).

State (DynamoDB + S3): ``backup_state``, ``backup_parts``, ``loss_risk_table``, ``history_cover_table``; charts ``files_by_state``,
``bytes_backed_up_over_time``, ``backup_lag``, ``compression_ratio``, ``loss_risk``. Audit analytics from the
backed-up logs: ``load_audit_events``, ``parse_lines``, ``events_over_time``, ``top_users``, ``failed_logins``,
``ddl_dcl_events``; the same questions answered by the archive's query engine (labkit.query), reading only the
partitions of a window: ``audit_archive``, ``archive_events_over_time``, ``archive_top_users``,
``archive_failed_logins``, ``archive_ddl_dcl``. Cost: ``Prices``, ``monthly_cost``, ``measured_volume``, ``cost_chart``;
``scan_modes`` (per scan mode: invocations, RDS calls, the fleet the RDS rate limit leaves room for).
Honest cost (estimate.py): ``lab_measurement`` (the burst, compression and overhead per part the lab
measured), ``your_usage`` (your volume and fleet with those applied), ``fleet_table``, ``FleetFigures``.
For people: ``headline`` (the card at the top of 50, 60 and 80), ``table``, ``tracking_table``, ``parts_table``
(formatted views: sizes, UTC times, dollars, no scientific notation; the frames keep the machine values).
"""

from __future__ import annotations

from labkit.dashboard.audit import (
    AuditEvent,
    ddl_dcl_events,
    events_over_time,
    failed_logins,
    load_audit_events,
    parse_line,
    parse_lines,
    top_users,
)
from labkit.dashboard.audit_search import (
    AuditArchive,
    archive_ddl_dcl,
    archive_events_over_time,
    archive_failed_logins,
    archive_top_users,
    audit_archive,
)
from labkit.dashboard.card import Headline, headline
from labkit.dashboard.charts import (
    backup_lag,
    bytes_backed_up_over_time,
    compression_ratio,
    files_by_state,
    loss_risk,
)
from labkit.dashboard.cost import (
    PipelineShape,
    Prices,
    cost_chart,
    cost_totals,
    measured_volume,
    monthly_cost,
    scan_modes,
)
from labkit.dashboard.errors import BackupStoreError, DashboardError
from labkit.dashboard.estimate import (
    FleetFigures,
    LabMeasurement,
    Usage,
    fleet_table,
    lab_measurement,
    your_usage,
)
from labkit.dashboard.risk import history_cover_table, loss_risk_table
from labkit.dashboard.state import backup_parts, backup_state
from labkit.dashboard.tables import Table, parts_table, table, tracking_table

__all__ = [
    "AuditArchive",
    "AuditEvent",
    "BackupStoreError",
    "DashboardError",
    "FleetFigures",
    "Headline",
    "LabMeasurement",
    "PipelineShape",
    "Prices",
    "Table",
    "Usage",
    "archive_ddl_dcl",
    "archive_events_over_time",
    "archive_failed_logins",
    "archive_top_users",
    "audit_archive",
    "backup_lag",
    "backup_parts",
    "backup_state",
    "bytes_backed_up_over_time",
    "compression_ratio",
    "cost_chart",
    "cost_totals",
    "ddl_dcl_events",
    "events_over_time",
    "failed_logins",
    "files_by_state",
    "fleet_table",
    "headline",
    "history_cover_table",
    "lab_measurement",
    "load_audit_events",
    "loss_risk",
    "loss_risk_table",
    "measured_volume",
    "monthly_cost",
    "parse_line",
    "parse_lines",
    "parts_table",
    "scan_modes",
    "table",
    "top_users",
    "tracking_table",
    "your_usage",
]
