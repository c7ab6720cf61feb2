"""Honest cost inputs: what the lab measured, applied to *your* audit volume and fleet.

A lab run writes a burst (a few MB in seconds); stretched to a day it reads as hundreds of GB and
thousands of dollars. So the volume is a parameter (``audit_gb_per_day``, with an example default in
notebook 80) and the lab contributes only what it really measures:

- the **compression** of the parts, split by a least-squares fit of ``gzip bytes = source bytes / ratio +
  overhead`` over the parts into the ratio of large parts and a fixed **overhead per part** (gzip's header
  and trailer, and the small parts a lab makes). Applied to your volume with the number of parts your fleet
  makes in a day (one per active file per scan, and one per file), so small parts cost what they cost;
- the **burst**: bytes over the window they were written in, shown as a rate (MB/s), not as a day.

``fleet_table`` sets the scan modes side by side for your volume and fleet: RPO, Lambda invocations, RDS
calls against the account's budget, the monthly cost, and how many scan periods Aurora's retention covers
(labkit.backup.sizing). The AWS-shaped figures it uses (RDS request budget, copy speed, invocation time)
are :class:`FleetFigures`' defaults, the lab's assumptions: the fleet issue's measured figures replace
them there, one place, and every table follows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from labkit.backup.sizing import HistoryPolicy, retention_cover
from labkit.config import DEFAULT_RDS_BUDGET_RPS
from labkit.dashboard.cost import (
    DAYS_PER_MONTH,
    DEFAULT_COMPRESSION_RATIO,
    SCAN_MODES,
    PipelineShape,
    Prices,
    ScanMode,
    measured_volume,
    scan_modes,
)
from labkit.dashboard.tables import Table, duration, size, table

AURORA_ROTATE_BYTES = 100_000_000  # Aurora rotates an audit file at 100 MB (REFERENCE.md)
GB = 1e9
DEFAULT_SHAPE, DEFAULT_PRICES = PipelineShape(), Prices()


@dataclass(frozen=True)
class FleetFigures:
    """The AWS-shaped figures behind the fleet table. Defaults: the lab's assumptions, not AWS
    measurements; the fleet issue (an AWS-shaped emulator) is to replace them here."""

    # the RDS requests per second the pipeline may spend (LABKIT_RDS_BUDGET_RPS's default: 10 of the
    # account's 12/s, labkit.backup.rdsbudget)
    rds_budget_per_s: float = DEFAULT_RDS_BUDGET_RPS
    copy_mb_per_s: float = PipelineShape.copy_mb_per_s  # DownloadDBLogFilePortion into gzip, per copy
    invocation_s: float = PipelineShape.invocation_s
    source: str = "lab assumptions (not yet measured against AWS's limits)"


@dataclass
class LabMeasurement:
    """What the lab run measured: the burst, the compression ratio and the overhead per part."""

    source_bytes: int
    window_s: float
    files: int
    parts: int
    compression_ratio: float
    part_overhead_bytes: float
    compression_measured: bool
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def burst_bytes_per_s(self) -> float:
        return self.source_bytes / self.window_s if self.window_s else 0.0

    def lines(self) -> list[str]:
        ratio = (
            f"gzip: {self.compression_ratio:,.1f}x on large parts, plus {size(self.part_overhead_bytes)} "
            f"per part (fitted over {self.parts:,} parts)"
            if self.compression_measured
            else f"gzip: no part in S3 yet, so the reference ratio {DEFAULT_COMPRESSION_RATIO:g}x is assumed"
        )
        return [
            f"The lab wrote {size(self.source_bytes)} in {self.files:,} audit files over "
            f"{duration(self.window_s)}: a burst of {size(self.burst_bytes_per_s)}/s. It is a burst, not a "
            "day's volume: the cost below uses the volume you give (AUDIT_GB_PER_DAY).",
            ratio,
        ]

    def _repr_html_(self) -> str:
        return "".join(f"<p>{html.escape(line)}</p>" for line in self.lines())

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def lab_measurement(
    state: pd.DataFrame, parts: pd.DataFrame, window_s: float | None = None
) -> LabMeasurement:
    """The lab's burst and compression (``measured_volume`` for the window; the fit for the overhead)."""
    volume = measured_volume(state, parts, window_s)
    ratio, overhead = compression_fit(parts)
    measured = bool(volume["compression_measured"])
    if not measured:
        ratio, overhead = DEFAULT_COMPRESSION_RATIO, 0.0
    found = LabMeasurement(
        source_bytes=int(volume["source_bytes"]),
        window_s=float(volume["window_s"]),
        files=int(volume["files"]),
        parts=0 if parts.empty else int(parts["source_bytes"].notna().sum()),
        compression_ratio=ratio,
        part_overhead_bytes=overhead,
        compression_measured=measured,
    )
    found.values = {
        **volume,
        "burst_bytes_per_s": found.burst_bytes_per_s,
        "large_part_compression_ratio": ratio,
        "part_overhead_bytes": overhead,
    }
    return found


def compression_fit(parts: pd.DataFrame) -> tuple[float, float]:
    """(ratio, overhead bytes per part) from ``gzip = source / ratio + overhead`` over the parts; the
    overall ratio and no overhead when the parts cannot separate the two (fewer than two sizes, or a fit
    that makes no sense)."""
    known = parts.dropna(subset=["source_bytes"]) if not parts.empty else parts
    known = known[known["compressed_bytes"] > 0] if not known.empty else known
    if known.empty:
        return DEFAULT_COMPRESSION_RATIO, 0.0
    source = known["source_bytes"].astype(float).to_numpy()
    gzip = known["compressed_bytes"].astype(float).to_numpy()
    overall = float(source.sum() / gzip.sum())
    if len(set(source)) < 2:
        return overall, 0.0
    design = np.column_stack([source, np.ones_like(source)])
    (slope, overhead), *_ = np.linalg.lstsq(design, gzip, rcond=None)
    if slope <= 0 or overhead < 0 or 1 / slope < overall:
        return overall, 0.0
    return float(1 / slope), float(overhead)


@dataclass
class Usage:
    """Your volume and fleet, with the lab's compression and overhead applied: ``monthly_cost``'s inputs."""

    audit_bytes_per_day: float
    instances: int
    files_per_day: float
    parts_per_day: float
    compression_ratio: float  # effective for this volume: overhead per part included
    shape: PipelineShape
    lab: LabMeasurement
    values: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"Your volume: {size(self.audit_bytes_per_day)} of audit log a day over {self.instances:,} "
            f"instance(s) (parameter), in about {self.files_per_day:,.0f} files and "
            f"{self.parts_per_day:,.0f} parts a day.",
            f"Stored in S3 as about {size(self.audit_bytes_per_day / self.compression_ratio)} a day: "
            f"{self.compression_ratio:,.1f}x with the lab's overhead per part applied.",
        ]

    def _repr_html_(self) -> str:
        return "".join(f"<p>{html.escape(line)}</p>" for line in self.lines())

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def your_usage(
    lab: LabMeasurement,
    audit_gb_per_day: float,
    instances: int = 1,
    shape: PipelineShape = DEFAULT_SHAPE,
    figures: FleetFigures = FleetFigures(),
) -> Usage:
    """``audit_gb_per_day`` (decimal GB, the whole fleet's) over ``instances``, at the lab's compression.

    Files: Aurora rotates at 100 MB, and each instance writes at least its active files a day. Parts: each
    scan copies what every active file grew (``shape.active_files`` per instance), and each file's last
    part once it is sealed."""
    volume = max(float(audit_gb_per_day), 0.0) * GB
    n = max(int(instances), 1)
    shape = replace(
        shape, instances=n, copy_mb_per_s=figures.copy_mb_per_s, invocation_s=figures.invocation_s
    )
    files = max(volume / AURORA_ROTATE_BYTES, float(n * shape.active_files))
    parts = 86400 / shape.scan_interval_s * n * shape.active_files + files
    stored = volume / lab.compression_ratio + lab.part_overhead_bytes * parts
    ratio = volume / stored if stored > 0 else lab.compression_ratio
    found = Usage(volume, n, files, parts, max(ratio, 1.0), shape, lab)
    found.values = {
        **lab.values,
        "your_audit_bytes_per_day": volume,
        "your_instances": n,
        "your_files_per_day": files,
        "your_parts_per_day": parts,
        "your_compression_ratio": found.compression_ratio,
        "fleet_figures": figures.source,
    }
    return found


def fleet_frame(
    usage: Usage,
    prices: Prices = DEFAULT_PRICES,
    figures: FleetFigures = FleetFigures(),
    modes: tuple[ScanMode, ...] = SCAN_MODES,
    retention_hours: float = 24.0,
    safe_scans: float = 3.0,
) -> pd.DataFrame:
    """One row per scan mode for the whole fleet: RPO, requests, RDS budget, cost, retention cover."""
    per_instance = scan_modes(
        usage.audit_bytes_per_day, usage.shape, prices, modes, rds_budget_per_s=figures.rds_budget_per_s
    )
    n = usage.instances
    rate = usage.audit_bytes_per_day / n / 86400
    rows = []
    for mode, row in zip(modes, per_instance.to_dict(orient="records"), strict=True):
        look_bytes = rate * row["looks_every_s"] / max(usage.shape.active_files, 1)
        copy_s = figures.invocation_s + look_bytes / (figures.copy_mb_per_s * 1e6)
        policy = HistoryPolicy(mode.scan_interval_s, safe_scans, aurora_retention_s=retention_hours * 3600)
        cover = retention_cover(rate, policy)
        fleet_calls = row["rds_calls_per_s"] * n
        rows.append(
            {
                "mode": mode.name,
                "worst-case RPO": row["looks_every_s"] + copy_s,
                "Lambda invocations / month": row["lambda_invocations"] * n,
                "RDS calls/s (fleet)": fleet_calls,
                "RDS budget used": fleet_calls / figures.rds_budget_per_s * 100,
                "instances the budget fits": row["instances_within_rds_budget"],
                "fleet fits": "yes" if row["instances_within_rds_budget"] >= n else "NO",
                "requests $/month": row["usd_per_month"] * n,
                "retention covers (scan periods)": cover.covered_scans,
                "log space held / instance": cover.needed_bytes,
            }
        )
    return pd.DataFrame(rows)


FLEET_KINDS = {
    "worst-case RPO": "seconds",
    "Lambda invocations / month": "count",
    "RDS calls/s (fleet)": "number",
    "RDS budget used": "percent",
    "instances the budget fits": "count",
    "requests $/month": "money",
    "retention covers (scan periods)": "number",
    "log space held / instance": "bytes",
}


def fleet_table(
    usage: Usage,
    prices: Prices = DEFAULT_PRICES,
    figures: FleetFigures = FleetFigures(),
    retention_hours: float = 24.0,
) -> Table:
    """``fleet_frame`` for people, titled with the volume and fleet it is for and where its figures come from."""
    frame = fleet_frame(usage, prices, figures, retention_hours=retention_hours)
    title = (
        f"Scan modes for {size(usage.audit_bytes_per_day)}/day over {usage.instances:,} instance(s), "
        f"{DAYS_PER_MONTH:.1f}-day months; RDS budget {figures.rds_budget_per_s:g} requests/s; figures: "
        f"{figures.source}"
    )
    return table(
        frame,
        kinds=FLEET_KINDS,
        title=title,
    )
