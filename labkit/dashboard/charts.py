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
from labkit.dashboard.palette import ALARM_STATES, GREEN, GREY, LIGHT_GREEN, ORANGE, RED, STATE_COLORS
from labkit.dashboard.risk import AT_RISK, NOTHING_PENDING, OVERDUE, instance_lag, loss_risk_table
from labkit.dashboard.tables import duration, size

LOG_FLOOR_S = 1.0  # the loss-risk axis starts at one second: a lag of 0.2 s is drawn as "under 1 s"
DURATION_TICKS = (1, 10, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)


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
    """One line per column of ``table`` (rows: time buckets of ``freq``), the busiest first in the legend;
    the title says how many events and which kind was the most."""
    totals = table.sum()
    if int(totals.sum()):
        top = str(totals.idxmax())
        ax.set_title(
            f"{int(totals.sum()):,} audit events in this window, most of them {top} "
            f"({int(totals.max()):,}, {totals.max() / totals.sum():.0%})"
        )
    for name in table.sum().sort_values(ascending=False).index:
        ax.plot(table.index, table[name], label=str(name), marker="." if len(table) < 30 else None)
    ax.set_ylabel(f"events per {freq}")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def users_title(names: list[str], events: list[float]) -> str:
    """The busiest user's share of the events the chart shows (``names``/``events``: any order)."""
    if not events or not sum(events):
        return "Audit events by user: none in this window"
    top = max(range(len(events)), key=lambda i: events[i])
    return (
        f"{names[top]} wrote the most audit events: {int(events[top]):,} of {int(sum(events)):,} "
        f"among the top {len(events)} users"
    )


def files_by_state(state: pd.DataFrame) -> Figure:
    """Stacked bars: tracked files per instance by state; LOST (red) and FAILED (orange) hatched and counted."""
    fig, ax = new_figure()
    if state.empty:
        empty(ax, "no tracked audit files yet")
        ax.set_title("Audit files by backup state: none tracked yet")
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
    backed_up = int((state["state"] == t.BACKED_UP).sum())
    verdict = (
        f"{lost + failed} of {len(state)} need attention"
        if lost or failed
        else f"all {len(state)} backed up"
        if backed_up == len(state)
        else f"{backed_up} of {len(state)} backed up, the rest on the way"
    )
    ax.set_title(f"Audit files: {verdict} ({lost} LOST, {failed} FAILED)")
    ax.set_ylabel("files")
    ax.set_xlabel("DB instance")
    ax.yaxis.get_major_locator().set_params(integer=True)  # files come whole
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def bytes_backed_up_over_time(parts: pd.DataFrame) -> Figure:
    """Cumulative source bytes in S3 per instance (solid) and what they take compressed (dashed)."""
    fig, ax = new_figure()
    ax.set_title("Audit bytes backed up over time: none yet")
    known = parts.dropna(subset=["source_bytes", "last_modified"]) if not parts.empty else parts
    if known.empty:
        empty(ax, "no backup parts in S3 yet")
        return fig
    source, stored = int(known["source_bytes"].sum()), int(known["compressed_bytes"].sum())
    ax.set_title(f"{size(source)} of audit log backed up, stored as {size(stored)} of gzip in S3")
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
    ax.set_title("Backup lag: no tracked audit files yet")
    if state.empty:
        empty(ax, "no tracked audit files yet")
        return fig
    lags = instance_lag(state).fillna(0.0)
    pending = state.groupby("instance_id")["pending_bytes"].sum().reindex(lags.index, fill_value=0)
    divisor, unit = duration_unit(float(lags.max()))
    colors = [ORANGE if p > 0 else GREEN for p in pending]
    waiting = f"{size(int(pending.sum()))} pending" if pending.sum() else "nothing pending"
    ax.set_title(f"Backup lag: at most {duration(float(lags.max()))}, {waiting}")
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
    ax.set_xlabel("DB instance")
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def compression_ratio(parts: pd.DataFrame) -> Figure:
    """Source bytes per stored byte, per instance, with the overall ratio as a line."""
    fig, ax = new_figure()
    ax.set_title("Compression: no backup parts in S3 yet")
    known = parts.dropna(subset=["source_bytes"]) if not parts.empty else parts
    known = known[known["compressed_bytes"] > 0] if not known.empty else known
    if known.empty:
        empty(ax, "no backup parts in S3 yet")
        return fig
    sums = known.groupby("instance_id")[["source_bytes", "compressed_bytes"]].sum().astype(float)
    ratios = sums["source_bytes"] / sums["compressed_bytes"]
    bars = ax.bar([str(i) for i in ratios.index], ratios, color=LIGHT_GREEN, label="per instance")
    ax.bar_label(bars, labels=[f"{r:.1f}x" for r in ratios], fontsize=8)
    overall = float(sums["source_bytes"].sum() / sums["compressed_bytes"].sum())
    ax.axhline(overall, color=GREEN, linestyle="--", label=f"overall {overall:.1f}x")
    ax.set_title(f"gzip stores the audit log {overall:.1f}x smaller (source bytes / gzip bytes in S3)")
    ax.set_ylabel("ratio (source bytes per stored byte)")
    ax.set_xlabel("DB instance")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=10, labelsize=8)
    fig.tight_layout()
    return fig


def loss_risk(state: pd.DataFrame, retention_hours: float, now: datetime | None = None) -> Figure:
    """Per instance with bytes waiting: time left before its oldest uncopied file is evicted (coloured by
    status) beside the current lag (grey), on a log scale of time so seconds of lag and a day of retention
    both show; instances with nothing pending say so, and a lab with nothing pending says "nothing at risk"."""
    fig, ax = new_figure()
    risk = loss_risk_table(state, retention_hours, now)
    if risk.empty:
        empty(ax, "no tracked audit files yet")
        ax.set_title("Loss risk: no tracked audit files yet")
        return fig
    retention_s = float(retention_hours) * 3600.0
    waiting = risk["status"] != NOTHING_PENDING
    ys = list(range(len(risk)))
    left = risk["time_to_eviction_s"].clip(lower=LOG_FLOOR_S).where(waiting)
    lag = risk["lag_s"].clip(lower=LOG_FLOOR_S).where(waiting)
    colors = [RED if s == OVERDUE else ORANGE if s == AT_RISK else GREEN for s in risk["status"]]
    ax.barh(
        [y + 0.2 for y in ys],
        left - LOG_FLOOR_S,
        left=LOG_FLOOR_S,
        height=0.4,
        color=colors,
        label="time left before eviction",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        lag - LOG_FLOOR_S,
        left=LOG_FLOOR_S,
        height=0.4,
        color=GREY,
        label="current lag",
    )
    for y, row in zip(ys, risk.itertuples(), strict=True):
        if row.status == NOTHING_PENDING:
            note = "nothing pending" + (
                "" if pd.isna(row.lag_s) else f": caught up {duration(row.lag_s)} after the last write"
            )
            ax.annotate(
                note, (LOG_FLOOR_S, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
            )
            continue
        ax.annotate(
            f"{row.status}: {duration(max(row.time_to_eviction_s, 0.0))} left, lag {duration(row.lag_s)}",
            (float(left.iloc[y]), y + 0.2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(retention_s, color=GREY, linestyle="--", linewidth=1)
    ax.annotate(
        f"retention {duration(retention_s)}", (retention_s, -0.55), fontsize=8, ha="right", va="bottom"
    )
    ax.set_xscale("log")
    ax.set_xlim(LOG_FLOOR_S, retention_s * 3)
    ticks = [s for s in DURATION_TICKS if s <= retention_s * 3]
    ax.set_xticks(ticks, [_tick(s) for s in ticks])
    ax.minorticks_off()
    ax.set_yticks(ys, [str(i) for i in risk["instance_id"]])
    ax.set_ylim(-0.6, len(ys) - 0.4)
    ax.set_xlabel("time (log scale)")
    if waiting.any():
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    at_risk = int(risk["status"].isin([AT_RISK, OVERDUE]).sum())
    hours = f"retention {retention_hours:g} h"
    if not waiting.any():
        ax.set_title(f"Nothing at risk: every audit byte seen is in S3 ({hours})")
        ax.text(
            0.5,
            0.5,
            "nothing at risk",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=20,
            color=GREEN,
            alpha=0.5,
        )
    elif at_risk:
        ax.set_title(f"Loss risk ({hours}): {at_risk} instance(s) at risk of losing audit bytes")
    else:
        least = float(risk["time_to_eviction_s"].min())
        ax.set_title(f"Nothing at risk ({hours}): the oldest uncopied byte has {duration(least)} left")
    fig.tight_layout()
    return fig


def _tick(seconds: float) -> str:
    for divisor, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= divisor:
            return f"{seconds / divisor:g} {unit}"
    return f"{seconds:g} s"
