"""Charts of the backup state. Each returns a matplotlib Figure and leaves display to the caller.

Figures are made with pyplot (so a notebook's inline backend knows how to render them) and closed at once:
the notebook shows the returned figure exactly once, and a loop of charts holds no pyplot state. No backend
is chosen here; matplotlib picks the notebook's inline one, or Agg when there is no display.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from labkit.backup import table as t
from labkit.dashboard.risk import AT_RISK, OVERDUE, instance_lag, loss_risk_table

STATE_COLORS = {
    t.BACKED_UP: "#2ca02c",
    t.PARTIAL: "#1f77b4",
    t.DETECTED: "#aec7e8",
    t.COPYING: "#9467bd",
    t.LOST: "#d62728",  # red: audit bytes gone for good
    t.FAILED: "#ff7f0e",  # orange: needs a person
}
ALARM_STATES = (t.LOST, t.FAILED)


def new_figure(width: float = 9.0, height: float = 4.0) -> tuple[Figure, Any]:
    """A figure with one axes, detached from pyplot's list of open figures."""
    fig, ax = plt.subplots(figsize=(width, height))
    plt.close(fig)
    return fig, ax


def empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#7f7f7f")
    ax.set_xticks([])
    ax.set_yticks([])


def duration_unit(seconds: float) -> tuple[float, str]:
    """A divisor and unit name that keep durations readable."""
    if seconds >= 2 * 86400:
        return 86400.0, "days"
    if seconds >= 2 * 3600:
        return 3600.0, "hours"
    if seconds >= 120:
        return 60.0, "minutes"
    return 1.0, "seconds"


def naive_utc(times: pd.Series) -> pd.Series:
    """matplotlib plots naive datetimes; the axis label says UTC."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(None)


def lines_over_time(fig: Figure, ax: Any, table: pd.DataFrame, freq: str) -> Figure:
    """One line per column of ``table`` (rows: time buckets of ``freq``), the busiest first in the legend."""
    for name in table.sum().sort_values(ascending=False).index:
        ax.plot(table.index, table[name], label=str(name), marker="." if len(table) < 30 else None)
    ax.set_ylabel(f"events per {freq}")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def files_by_state(state: pd.DataFrame) -> Figure:
    """Stacked bars: tracked files per instance by state; LOST (red) and FAILED (orange) hatched and counted."""
    fig, ax = new_figure()
    if state.empty:
        empty(ax, "no tracked audit files yet")
        ax.set_title("Audit files by backup state")
        return fig
    counts = state.groupby(["instance_id", "state"]).size().unstack(fill_value=0)
    instances = [str(i) for i in counts.index]
    bottom = [0] * len(instances)
    for name in t.STATES:
        if name not in counts.columns or not counts[name].any():
            continue
        values = [int(v) for v in counts[name]]
        alarm = name in ALARM_STATES
        bars = ax.bar(
            instances,
            values,
            bottom=bottom,
            label=name,
            color=STATE_COLORS[name],
            edgecolor="black" if alarm else "white",
            linewidth=1.5 if alarm else 0.5,
            hatch="//" if alarm else None,
        )
        if alarm:
            ax.bar_label(bars, labels=[f"{name} {v}" if v else "" for v in values], label_type="center")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    lost = int((state["state"] == t.LOST).sum())
    failed = int((state["state"] == t.FAILED).sum())
    ax.set_title(f"Audit files by backup state - {len(state)} files, {lost} LOST, {failed} FAILED")
    ax.set_ylabel("files")
    ax.yaxis.get_major_locator().set_params(integer=True)  # files come whole
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def bytes_backed_up_over_time(parts: pd.DataFrame) -> Figure:
    """Cumulative source bytes in S3 per instance (solid) and what they take compressed (dashed)."""
    fig, ax = new_figure()
    ax.set_title("Audit bytes backed up over time")
    known = parts.dropna(subset=["source_bytes", "last_modified"]) if not parts.empty else parts
    if known.empty:
        empty(ax, "no backup parts in S3 yet")
        return fig
    for n, (instance, rows) in enumerate(
        known.sort_values("last_modified").groupby("instance_id", sort=True)
    ):
        color = f"C{n % 10}"
        when = pd.concat([naive_utc(rows["last_modified"]).iloc[:1], naive_utc(rows["last_modified"])])
        for column, style, label in (
            ("source_bytes", "-", f"{instance}"),
            ("compressed_bytes", "--", f"{instance} (gzip in S3)"),
        ):
            total = [0.0, *(rows[column].astype(float).cumsum() / 1e6)]  # from zero at the first part
            ax.step(when, total, where="post", color=color, linestyle=style, label=label)
    ax.set_ylabel("MB (cumulative)")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def backup_lag(state: pd.DataFrame) -> Figure:
    """Current backup lag per instance: age of the oldest uncopied write, else the last catch-up delay."""
    fig, ax = new_figure()
    ax.set_title("Backup lag per instance")
    if state.empty:
        empty(ax, "no tracked audit files yet")
        return fig
    lags = instance_lag(state).fillna(0.0)
    pending = state.groupby("instance_id")["pending_bytes"].sum().reindex(lags.index, fill_value=0)
    divisor, unit = duration_unit(float(lags.max()))
    colors = ["#ff7f0e" if p > 0 else "#2ca02c" for p in pending]
    bars = ax.bar([str(i) for i in lags.index], lags / divisor, color=colors, label="lag")
    ax.bar_label(
        bars,
        labels=[
            f"{v / divisor:.1f} {unit}" + (f"\n{p / 1e6:.1f} MB pending" if p else "")
            for v, p in zip(lags, pending, strict=True)
        ],
        fontsize=8,
    )
    ax.set_ylabel(f"lag ({unit})")
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def compression_ratio(parts: pd.DataFrame) -> Figure:
    """Source bytes per stored byte, per instance, with the overall ratio as a line."""
    fig, ax = new_figure()
    ax.set_title("Compression ratio of the backup (source bytes / gzip bytes in S3)")
    known = parts.dropna(subset=["source_bytes"]) if not parts.empty else parts
    known = known[known["compressed_bytes"] > 0] if not known.empty else known
    if known.empty:
        empty(ax, "no backup parts in S3 yet")
        return fig
    sums = known.groupby("instance_id")[["source_bytes", "compressed_bytes"]].sum().astype(float)
    ratios = sums["source_bytes"] / sums["compressed_bytes"]
    bars = ax.bar([str(i) for i in ratios.index], ratios, color="#98df8a", label="per instance")
    ax.bar_label(bars, labels=[f"{r:.1f}x" for r in ratios], fontsize=8)
    overall = float(sums["source_bytes"].sum() / sums["compressed_bytes"].sum())
    ax.axhline(overall, color="#2ca02c", linestyle="--", label=f"overall {overall:.1f}x")
    ax.set_ylabel("ratio (x)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def loss_risk(state: pd.DataFrame, retention_hours: float, now: datetime | None = None) -> Figure:
    """Per instance: time left before the oldest uncopied file is evicted, beside the current lag."""
    fig, ax = new_figure()
    risk = loss_risk_table(state, retention_hours, now)
    ax.set_title(f"Loss risk (retention {retention_hours:g} h)")
    if risk.empty:
        empty(ax, "no tracked audit files yet")
        return fig
    scale = pd.concat([risk["time_to_eviction_s"], risk["lag_s"]]).fillna(0.0).max()
    divisor, unit = duration_unit(float(scale))
    ys = list(range(len(risk)))
    left = risk["time_to_eviction_s"].fillna(0.0).clip(lower=0) / divisor
    colors = ["#d62728" if s == OVERDUE else "#ff7f0e" if s == AT_RISK else "#2ca02c" for s in risk["status"]]
    ax.barh([y + 0.2 for y in ys], left, height=0.4, color=colors, label="time left before eviction")
    ax.barh(
        [y - 0.2 for y in ys],
        risk["lag_s"].fillna(0.0) / divisor,
        height=0.4,
        color="#7f7f7f",
        label="current lag",
    )
    for y, row in zip(ys, risk.itertuples(), strict=True):
        ax.annotate(
            str(row.status),
            (float(left.iloc[y]), y + 0.2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(ys, [str(i) for i in risk["instance_id"]])
    ax.set_xlabel(unit)
    ax.legend(fontsize=8, loc="lower right")
    at_risk = int(risk["status"].isin([AT_RISK, OVERDUE]).sum())
    ax.set_title(f"Loss risk (retention {retention_hours:g} h): {at_risk} instance(s) at risk")
    fig.tight_layout()
    return fig
