"""What a month of audit logs costs: this pipeline (gzip parts in S3) beside publishing to CloudWatch Logs.

Every price is a parameter (``Prices``); the defaults are AWS's public us-east-1 list prices for the
Standard tiers, without free tiers, volume discounts or taxes, and prices change: check them on the
services' pricing pages before quoting a figure. The pipeline's request counts follow from how it works
(one scan per interval, one SQS message per instance and scan, one part per copy of a growing file); they
are estimates, listed line by line so a reader can see and change every assumption. Left out as negligible
at audit volumes: DynamoDB storage, KMS (the bucket key), the functions' own CloudWatch logs, data transfer
(none leaves the Region).

With the lab stack's ``auditLogsToCloudWatch`` on (Security Hub RDS.34), the cluster also publishes every audit
byte to CloudWatch Logs: ``monthly_cost(..., audit_logs_to_cloudwatch=True)`` adds that export's ingestion and
its storage for the stack's ``logRetentionDays`` to this pipeline's bill.

``scan_modes`` sets the scan modes side by side per instance and month: a 5-minute schedule, the 1-minute
default, and the 1-minute schedule with the detector tailing (``LabConfig.detector_tailing``): Lambda
invocations, RDS API calls (free, but every RDS client of the account shares 12 requests/s) and what they
cost, with the fleet size each mode leaves room for.

What goes in: ``labkit.dashboard.estimate`` (your volume as a parameter, the lab's measured compression and
overhead per part applied to it, the lab's burst shown as a burst, the fleet table); kept apart so that
this module stays the price list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from labkit.config import DEFAULT_RDS_BUDGET_RPS, LabConfig
from labkit.dashboard.charts import new_figure

GIB = 1024**3
DAYS_PER_MONTH = 730 / 24  # AWS bills a month as 730 hours
S3_PART_SIZE = 8 * 1024 * 1024  # labkit.backup.s3parts.PART_SIZE: above it a part is a multipart upload
DEFAULT_COMPRESSION_RATIO = 20.0  # gzip-6 on real audit logs (REFERENCE.md), used when nothing was measured
PIPELINE, CLOUDWATCH = "S3 pipeline (this lab)", "CloudWatch Logs"
EXPORT_INGESTION = "CloudWatch export ingestion (auditLogsToCloudWatch)"
EXPORT_STORAGE = "CloudWatch export storage (auditLogsToCloudWatch)"
LOG_RETENTION_DAYS = 14  # the lab stack's logRetentionDays default: the audit log group keeps this long

# CloudWatch Logs, Standard log class, us-east-1: $0.50 per GB ingested (uncompressed) and $0.03 per GB-month
# stored (compressed); the export is priced as Standard-class ingestion of custom logs. Source: the
# Amazon CloudWatch pricing page, aws.amazon.com/cloudwatch/pricing (Paid tier, Logs), as quoted for us-east-1
# in 2026 by cloudburn.io/blog/amazon-cloudwatch-pricing and c3x.dev/blog/cloudwatch-logs-cost-optimization;
# the Aurora User Guide: publishing audit logs "can incur data ingestion and archived storage charges".
CLOUDWATCH_INGEST_PER_GB = 0.50
CLOUDWATCH_STORAGE_GB_MONTH = 0.03


@dataclass(frozen=True)
class Prices:
    """USD list prices, us-east-1 (check before use: aws.amazon.com/<service>/pricing)."""

    s3_standard_gb_month: float = 0.023
    s3_put_per_1k: float = 0.005  # PUT, COPY, POST, LIST
    lambda_gb_second: float = 0.0000166667  # x86
    lambda_requests_per_million: float = 0.20
    dynamodb_write_per_million: float = 0.625  # on-demand write request units
    dynamodb_read_per_million: float = 0.125  # on-demand read request units
    sqs_per_million: float = 0.40  # standard queue requests
    cloudwatch_ingest_per_gb: float = CLOUDWATCH_INGEST_PER_GB  # Standard log class
    cloudwatch_storage_gb_month: float = CLOUDWATCH_STORAGE_GB_MONTH


@dataclass(frozen=True)
class PipelineShape:
    """How the pipeline is deployed and how fast it copies (defaults: labkit's config defaults)."""

    instances: int = 1
    scan_interval_s: float = LabConfig.scan_interval_s  # the config's default schedule (1 minute)
    active_files: int = 4  # Aurora writes about four audit files at a time (REFERENCE.md)
    sqs_batch_size: int = 10
    downloader_memory_mb: int = 512
    small_function_memory_mb: int = 256  # scanner and detector
    invocation_s: float = 0.5  # fixed time of one function invocation (start, API calls, commit)
    copy_mb_per_s: float = 10.0  # RDS log download into gzip parts, per downloader
    instance_log_retention_h: float = 24.0  # how long an instance keeps its audit files (REFERENCE.md)
    item_bytes: int = 600


def monthly_cost(
    audit_bytes_per_day: float,
    compression_ratio: float,
    files_per_day: float,
    prices: Prices = Prices(),
    retention_days: int = 365,
    *,
    shape: PipelineShape = PipelineShape(),
    cloudwatch_stored_ratio: float | None = None,
    audit_logs_to_cloudwatch: bool = False,
    log_retention_days: int = LOG_RETENTION_DAYS,
) -> pd.DataFrame:
    """One row per billed item and option; storage is the steady state once ``retention_days`` are kept.

    ``cloudwatch_stored_ratio``: CloudWatch bills archived logs after its own compression, whose ratio AWS
    does not publish; None assumes the same ratio as the gzip parts (favourable to CloudWatch).
    ``audit_logs_to_cloudwatch``: the lab stack's setting of that name; on, the pipeline's bill also holds the
    export to CloudWatch Logs (every audit byte ingested, ``log_retention_days`` of it stored)."""
    days = DAYS_PER_MONTH
    raw_month = audit_bytes_per_day * days
    ratio = max(compression_ratio, 1.0)
    scans = days * 86400 / shape.scan_interval_s
    files = files_per_day * days
    parts = scans * shape.instances * shape.active_files + files
    part_bytes = raw_month / ratio / parts if parts else 0.0
    puts_per_part = 1 if part_bytes <= S3_PART_SIZE else 3 + math.ceil(part_bytes / S3_PART_SIZE)
    detector_calls = scans * math.ceil(shape.instances / shape.sqs_batch_size)
    # the detector queries the sparse live-files index: only files still on the instance, eventually
    # consistent (half a read unit per 4 KB)
    live_items_per_instance = files_per_day / max(shape.instances, 1) * shape.instance_log_retention_h / 24
    query_units = max(0.5, math.ceil(live_items_per_instance * shape.item_bytes / 4096) / 2)
    small_gb = shape.small_function_memory_mb / 1024
    copy_s = parts * shape.invocation_s + raw_month / (shape.copy_mb_per_s * 1e6)
    stored_cw = ratio if cloudwatch_stored_ratio is None else max(cloudwatch_stored_ratio, 1.0)
    rows = [
        (
            PIPELINE,
            "S3 storage (gzip)",
            audit_bytes_per_day * retention_days / ratio / GIB,
            "GB-month",
            prices.s3_standard_gb_month,
        ),
        (PIPELINE, "S3 PUT requests", parts * puts_per_part / 1000, "1k requests", prices.s3_put_per_1k),
        (
            PIPELINE,
            "Lambda requests",
            (scans + detector_calls + parts) / 1e6,
            "1M requests",
            prices.lambda_requests_per_million,
        ),
        (
            PIPELINE,
            "Lambda compute",
            (scans + detector_calls) * shape.invocation_s * small_gb
            + copy_s * shape.downloader_memory_mb / 1024,
            "GB-second",
            prices.lambda_gb_second,
        ),
        (
            PIPELINE,
            "DynamoDB writes",
            (parts * 3 + files * 2) * 2 / 1e6,  # x2: writes to a live item also write the index
            "1M write units",
            prices.dynamodb_write_per_million,
        ),
        (
            PIPELINE,
            "DynamoDB reads",
            (parts + scans * shape.instances * query_units) / 1e6,
            "1M read units",
            prices.dynamodb_read_per_million,
        ),
        (PIPELINE, "SQS requests", scans * shape.instances * 3 / 1e6, "1M requests", prices.sqs_per_million),
        (CLOUDWATCH, "CloudWatch Logs ingestion", raw_month / GIB, "GB", prices.cloudwatch_ingest_per_gb),
        (
            CLOUDWATCH,
            "CloudWatch Logs storage",
            audit_bytes_per_day * retention_days / stored_cw / GIB,
            "GB-month",
            prices.cloudwatch_storage_gb_month,
        ),
    ]
    if audit_logs_to_cloudwatch:
        rows[-2:-2] = [  # beside the pipeline's own lines: the stack pays both
            (PIPELINE, EXPORT_INGESTION, raw_month / GIB, "GB", prices.cloudwatch_ingest_per_gb),
            (
                PIPELINE,
                EXPORT_STORAGE,
                audit_bytes_per_day * log_retention_days / stored_cw / GIB,
                "GB-month",
                prices.cloudwatch_storage_gb_month,
            ),
        ]
    frame = pd.DataFrame(rows, columns=["option", "item", "quantity", "unit", "unit_price_usd"])
    frame["monthly_usd"] = frame["quantity"] * frame["unit_price_usd"]
    return frame


def cost_totals(frame: pd.DataFrame) -> pd.Series:
    """Monthly USD per option."""
    return frame.groupby("option", sort=False)["monthly_usd"].sum()


def cost_chart(frame: pd.DataFrame) -> Figure:
    """One stacked bar per option, split by billed item, with the monthly total written at its end."""
    fig, ax = new_figure(9.0, 3.5)
    options = list(dict.fromkeys(frame["option"]))
    left = [0.0] * len(options)
    for n, item in enumerate(dict.fromkeys(frame["item"])):
        rows = frame[frame["item"] == item].set_index("option")["monthly_usd"]
        values = [float(rows.get(o, 0.0)) for o in options]
        # the default cycle's ten colours, then tab20b's: the export's two lines make eleven items
        color = f"C{n}" if n < 10 else colormaps["tab20b"]((n - 10) % 20)
        ax.barh(options, values, left=left, label=item, color=color)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, total in enumerate(left):
        ax.annotate(
            f"${total:,.2f}/month", (total, y), xytext=(4, 0), textcoords="offset points", va="center"
        )
    ax.set_xlim(0, max(left or [1.0]) * 1.3 or 1.0)
    ax.set_xlabel("USD per month")
    ax.set_title(
        "Monthly cost of keeping the audit logs: "
        + ", ".join(f"{o.split(' (')[0]} ${t:,.2f}" for o, t in zip(options, left, strict=True))
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def measured_volume(
    state: pd.DataFrame, parts: pd.DataFrame, window_s: float | None = None
) -> dict[str, Any]:
    """The lab's audit volume per day: every tracked file's bytes over ``window_s`` (default: from the first
    detection to the last write; bytes written before the first scan count too, so a short lab runs high,
    and a burst of traffic is extrapolated as if it lasted all day: pass the traffic's real duration, or
    give ``monthly_cost`` your production volume), and the compression ratio the parts in S3 achieve
    (``DEFAULT_COMPRESSION_RATIO`` when none exist yet).

    ``audit_bytes_per_day``, ``compression_ratio`` and ``files_per_day`` are ``monthly_cost``'s arguments."""
    source_bytes = int(state["size"].sum()) if not state.empty else 0
    if window_s is None:
        window_s = 0.0
        if not state.empty:
            window_s = (state["last_written"].max() - state["first_seen"].min()).total_seconds()
    window_s = max(float(window_s), 1.0)
    known = parts.dropna(subset=["source_bytes"]) if not parts.empty else parts
    in_s3 = int(known["source_bytes"].sum()) if not known.empty else 0
    compressed = int(known["compressed_bytes"].sum()) if not known.empty else 0
    measured = compressed > 0 and in_s3 > 0
    return {
        "audit_bytes_per_day": source_bytes / window_s * 86400,
        "compression_ratio": in_s3 / compressed if measured else DEFAULT_COMPRESSION_RATIO,
        "files_per_day": len(state) / window_s * 86400,
        "compression_measured": measured,
        "source_bytes": source_bytes,
        "backed_up_bytes": in_s3,
        "compressed_bytes": compressed,
        "files": len(state),
        "instances": int(state["instance_id"].nunique()) if not state.empty else 0,
        "window_s": window_s,
    }


# what the pipeline may spend of RDS's 12 requests/s per account and Region (LABKIT_RDS_BUDGET_RPS's default)
RDS_BUDGET_PER_S = DEFAULT_RDS_BUDGET_RPS
RDS_PAGE = 1024 * 1024  # DownloadDBLogFilePortion returns at most 1 MB per call
INSTANCES_PER_PAGE = 100  # DescribeDBInstances' page


@dataclass(frozen=True)
class ScanMode:
    """How often an instance's files are looked at: the schedule, and whether the detector tails."""

    name: str
    scan_interval_s: float
    tailing: bool = False
    tail_poll_s: float = LabConfig.tail_poll_s
    tail_margin_s: float = LabConfig.tail_margin_s
    detector_timeout_s: float = LabConfig.detector_timeout_s

    @property
    def tail_rounds(self) -> int:
        """Scans a tailing invocation adds after its own: every poll within the window (labkit.backup.tail)."""
        if not self.tailing:
            return 0
        # the stack gives a tailing detector a timeout of max(detector_timeout_s, period), at most 900 s
        window = min(self.scan_interval_s, min(900.0, max(self.detector_timeout_s, self.scan_interval_s)))
        return max(0, int((window - self.tail_margin_s) // self.tail_poll_s))

    @property
    def detector_s(self) -> float:
        """Seconds one detector invocation lasts beyond its own scan: the tail's window."""
        return self.tail_rounds * self.tail_poll_s


SCAN_MODES = (
    ScanMode("5-minute schedule", 300.0),
    ScanMode("1-minute schedule (default)", 60.0),
    ScanMode("1-minute schedule + tailing", 60.0, tailing=True),
)


def scan_modes(
    audit_bytes_per_day: float,
    shape: PipelineShape = PipelineShape(),
    prices: Prices = Prices(),
    modes: tuple[ScanMode, ...] = SCAN_MODES,
    rds_budget_per_s: float = RDS_BUDGET_PER_S,
) -> pd.DataFrame:
    """Per instance and month, one row per mode. ``audit_bytes_per_day`` is the whole fleet's (as
    ``measured_volume`` gives it); ``shape.instances`` share it.

    Upper-bound assumptions, to change here: every active file grows between two looks under load, so each
    scan or tail round finds ``shape.active_files`` files grown and each becomes one copy (one downloader
    invocation, one part, one DownloadDBLogFilePortion call per started MB); one listing
    (DescribeDBLogFiles) per scan or round (rds-mysql rotations add head reads: not counted). Every RDS
    request also writes its token to the pipeline's budget table (labkit.backup.rdsbudget)."""
    instances = max(shape.instances, 1)
    month_s = DAYS_PER_MONTH * 86400
    bytes_month = audit_bytes_per_day / instances * DAYS_PER_MONTH
    small_gb, big_gb = shape.small_function_memory_mb / 1024, shape.downloader_memory_mb / 1024
    rows = []
    for mode in modes:
        scans = month_s / mode.scan_interval_s
        looks = scans * (1 + mode.tail_rounds)
        copies = looks * shape.active_files
        # a copy of a grown file is at least one call, however few its bytes (and however they round)
        per_copy = max(1, math.ceil(bytes_month / copies / RDS_PAGE)) if bytes_month > 0 else 0
        page_calls = copies * per_copy if copies else 0.0
        scanner = scans * math.ceil(instances / INSTANCES_PER_PAGE) / instances  # its DescribeDBInstances
        rds = looks + page_calls + scanner
        detector = scans * math.ceil(instances / shape.sqs_batch_size) / instances
        invocations = scans / instances + detector + copies
        gb_s = (scans / instances + detector) * shape.invocation_s * small_gb
        gb_s += detector * mode.detector_s * small_gb + copies * shape.invocation_s * big_gb
        gb_s += bytes_month / (shape.copy_mb_per_s * 1e6) * big_gb
        usd = (
            invocations / 1e6 * prices.lambda_requests_per_million
            + gb_s * prices.lambda_gb_second
            + copies / 1000 * prices.s3_put_per_1k
            + (copies * 3 + looks * shape.active_files) * 2 / 1e6 * prices.dynamodb_write_per_million
            + rds / 1e6 * prices.dynamodb_write_per_million  # a token in the RDS budget table per request
            + scans * 3 / 1e6 * prices.sqs_per_million
        )
        per_s = rds / month_s
        rows.append(
            {
                "mode": mode.name,
                "looks_every_s": mode.tail_poll_s if mode.tailing else mode.scan_interval_s,
                "lambda_invocations": invocations,
                "detector_invocations": detector,
                "rds_api_calls": rds,
                "rds_calls_per_s": per_s,
                "instances_within_rds_budget": int(rds_budget_per_s / per_s) if per_s else 0,
                "lambda_gb_s": gb_s,
                "usd_per_month": usd,
            }
        )
    return pd.DataFrame(rows)
