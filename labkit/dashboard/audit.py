"""Audit analytics from the backed-up logs: who did what, when, and which logins failed.

``load_audit_events`` reads the gzip parts from S3 (newest files first, at most ``max_bytes`` of log text)
and parses them with ``parse_lines``, which understands both the Aurora and the MariaDB line formats.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError
from matplotlib.figure import Figure

from labkit import aws
from labkit.config import LabConfig
from labkit.dashboard.audit_lines import (
    CATEGORIES,
    EVENT_COLUMNS,
    AuditEvent,
    categorize,
    events_frame,
    parse_line,
    parse_lines,
)
from labkit.dashboard.charts import empty, lines_over_time, naive_utc, new_figure, users_title
from labkit.dashboard.errors import BackupStoreError
from labkit.dashboard.state import list_part_objects, parse_part_key

CATEGORY_COLORS = {
    "CONNECT": "#aec7e8",
    "DISCONNECT": "#c7c7c7",
    "FAILED_CONNECT": "#d62728",
    "DDL": "#9467bd",
    "DCL": "#ff7f0e",
    "DML": "#1f77b4",
    "SELECT": "#2ca02c",
    "OTHER": "#7f7f7f",
}
_CHUNK = 1024 * 1024


def load_audit_events(config: LabConfig, max_bytes: int = 50_000_000) -> pd.DataFrame:
    """Events from the backups on the config's target, newest files first, at most ``max_bytes`` of text."""
    try:
        return read_audit_events(
            aws.client("s3", config), config.names.bucket, f"{config.log_prefix}/", max_bytes
        )
    except ClientError as exc:
        raise BackupStoreError(
            f"cannot read the backup bucket {config.names.bucket} on the {config.target} target "
            f"({exc.response['Error']['Code']}): deploy the lab stack first, or check the region and credentials"
        ) from exc


def read_audit_events(s3: Any, bucket: str, prefix: str, max_bytes: int) -> pd.DataFrame:
    """Parse the parts under ``prefix``: each file's parts in order (a line may span two parts), the most
    recently written files first, stopping at a line boundary once ``max_bytes`` of text were read."""
    files: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for obj in list_part_objects(s3, bucket, prefix):
        fields = parse_part_key(obj["Key"])
        if fields is not None:
            files[(fields["cluster_id"], fields["instance_id"], fields["file_id"])].append({**obj, **fields})
    order = sorted(files, key=lambda f: max(o["LastModified"] for o in files[f]), reverse=True)
    frames: list[pd.DataFrame] = []
    budget = max_bytes
    for cluster_id, instance_id, file_id in order:
        if budget <= 0:
            break
        text, budget = _read_file(
            s3, bucket, sorted(files[(cluster_id, instance_id, file_id)], key=lambda o: o["part"]), budget
        )
        frame = parse_lines(text)
        frame.insert(0, "file_id", file_id)
        frame.insert(0, "instance_id", instance_id)
        frame.insert(0, "cluster_id", cluster_id)
        frames.append(frame)
    if not frames:
        frame = events_frame([])
        for column in ("file_id", "instance_id", "cluster_id"):
            frame.insert(0, column, pd.Series(dtype=str))
        return frame
    return pd.concat(frames, ignore_index=True).sort_values("timestamp", kind="stable", ignore_index=True)


def _read_file(s3: Any, bucket: str, parts: list[dict[str, Any]], budget: int) -> tuple[bytes, int]:
    """One file's text from its parts, cut at the last whole line once the budget is spent."""
    out = bytearray()
    for part in parts:
        inflate = zlib.decompressobj(31)
        body = s3.get_object(Bucket=bucket, Key=part["Key"])["Body"]
        for chunk in body.iter_chunks(_CHUNK):
            out += inflate.decompress(chunk)
            if len(out) >= budget:
                body.close()
                cut = out.rfind(b"\n", 0, budget) + 1
                return bytes(out[:cut]), 0
        out += inflate.flush()
    return bytes(out), budget - len(out)


def failed_logins(events: pd.DataFrame) -> pd.DataFrame:
    """FAILED_CONNECT events per user, client host and error code (1045: access denied), most first."""
    failed = events[events["operation"] == "FAILED_CONNECT"]
    columns = ["user", "host", "retcode", "attempts", "first_seen", "last_seen"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    grouped = failed.groupby(["user", "host", "retcode"], dropna=False)["timestamp"]
    frame = grouped.agg(attempts="size", first_seen="min", last_seen="max").reset_index()
    return frame[columns].sort_values(["attempts", "last_seen"], ascending=[False, False], ignore_index=True)


def ddl_dcl_events(events: pd.DataFrame, include_table_events: bool = False) -> pd.DataFrame:
    """Schema and privilege changes (DDL, DCL) in time order, with who ran them and the statement.

    TABLE events (CREATE/ALTER/RENAME/DROP of a table) repeat what the statement's QUERY event says, so they
    are left out unless asked for (e.g. when only TABLE events are audited)."""
    chosen = events["category"].isin(["DDL", "DCL"])
    if not include_table_events:
        chosen &= events["operation"].str.startswith("QUERY")
    columns = [c for c in ("instance_id",) if c in events.columns] + [
        "timestamp",
        "user",
        "host",
        "database",
        "category",
        "operation",
        "object",
        "retcode",
    ]
    return events.loc[chosen, columns].sort_values("timestamp", kind="stable", ignore_index=True)


def events_over_time(events: pd.DataFrame, by: str = "operation", freq: str | None = None) -> Figure:
    """Events per time bucket, one line per operation (or per ``by`` column, e.g. "category")."""
    fig, ax = new_figure()
    ax.set_title("Audit events over time: none")
    if events.empty:
        empty(ax, "no audit events")
        return fig
    when = naive_utc(events["timestamp"])
    freq = freq or _bucket(when.max() - when.min())
    counts = (
        pd.DataFrame({"t": when.dt.floor(freq), by: events[by].astype(str)})
        .groupby(["t", by])
        .size()
        .unstack(fill_value=0)
    )
    counts = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq=freq), fill_value=0)
    return lines_over_time(fig, ax, counts, freq)


def top_users(events: pd.DataFrame, n: int = 10) -> Figure:
    """The ``n`` users with the most events, each bar split by category (failed logins in red)."""
    fig, ax = new_figure(9.0, max(3.0, 0.4 * n + 1.5))
    ax.set_title("Audit events by user: none")
    if events.empty:
        empty(ax, "no audit events")
        return fig
    table = events.groupby(["user", "category"]).size().unstack(fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:n]].iloc[::-1]
    left = [0] * len(table)
    users = [u if u else "(no user)" for u in table.index.astype(str)]
    for category in CATEGORIES:
        if category in table.columns and table[category].any():
            values = [int(v) for v in table[category]]
            ax.barh(users, values, left=left, label=category, color=CATEGORY_COLORS[category])
            left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_title(users_title(users, [float(v) for v in table.sum(axis=1)]))
    ax.set_xlabel("audit events")
    ax.set_ylabel("user")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _bucket(span: pd.Timedelta) -> str:
    """A bucket size that gives tens to a few hundred points over the span."""
    seconds = span.total_seconds()
    for limit, freq in ((300, "1s"), (3000, "10s"), (18_000, "1min"), (180_000, "10min"), (2_000_000, "1h")):
        if seconds <= limit:
            return freq
    return "1D"


__all__ = [
    "EVENT_COLUMNS",
    "AuditEvent",
    "categorize",
    "ddl_dcl_events",
    "events_over_time",
    "failed_logins",
    "load_audit_events",
    "parse_line",
    "parse_lines",
    "read_audit_events",
    "top_users",
]
