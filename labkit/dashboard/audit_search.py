"""Audit analytics answered by the archive's query engine (DuckDB locally, Athena on AWS), not by loading parts.

The dashboard asks the saved queries of :mod:`labkit.query.queries` for one window of dates (and optionally
one instance), so only those partitions are read and only aggregates or the few rows an auditor reads come
back: events per operation per bucket, the most active users, failed logins, DDL/DCL statements. The charts
are drawn from those aggregates; :mod:`labkit.dashboard.audit` keeps the frame-based charts for events
already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from labkit.dashboard.charts import empty, lines_over_time, naive_utc, new_figure, users_title
from labkit.dashboard.tables import Table, audit_table

if TYPE_CHECKING:
    from labkit.config import LabConfig
    from labkit.query import Engine

FAILED_LOGIN_COLUMNS = ["username", "client_host", "retcode", "attempts", "first_seen", "last_seen"]
_FREQS = ((18_000, "1min"), (180_000, "10min"), (2_000_000, "1h"), (float("inf"), "1D"))
_BUCKET_FREQ = {"minute": "1min", "hour": "1h", "day": "1D"}


@dataclass(frozen=True)
class AuditArchive:
    """The engine and the window the dashboard asks about (dates inclusive, UTC)."""

    engine: Engine
    since: date
    until: date
    instance: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "instance": self.instance or None}

    @property
    def bucket(self) -> str:
        """The engine's time bucket: minutes for the default window (a week and today) or less, so a lab's
        burst of a few minutes keeps its shape; hours up to a quarter, then days."""
        days = (self.until - self.since).days + 1
        return "minute" if days <= 8 else "hour" if days <= 92 else "day"

    def _repr_html_(self) -> str:
        where = f"instance {self.instance}" if self.instance else "every instance"
        return (
            f"<p>Audit archive through <b>{self.engine.dialect}</b>: {self.since} to {self.until} (UTC), "
            f"{where}.</p>"
        )

    def __repr__(self) -> str:
        where = f"instance {self.instance}" if self.instance else "every instance"
        return f"Audit archive through {self.engine.dialect}: {self.since} to {self.until} (UTC), {where}"


def audit_archive(
    config: LabConfig, since: date | str = "", until: date | str = "", instance: str = ""
) -> AuditArchive:
    """Connect the config's engine; the window defaults to the queries' own (a week up to today)."""
    from labkit.query import connect
    from labkit.query.queries import DEFAULT_DAYS, as_date

    last = as_date(until, datetime.now(UTC).date())
    first = as_date(since, last - timedelta(days=DEFAULT_DAYS))
    return AuditArchive(connect(config), first, last, instance)


def archive_events_over_time(archive: AuditArchive) -> Figure:
    """Events per time bucket, one line per operation, counted by the engine."""
    counts = archive.engine.run("events_per_operation", bucket=archive.bucket, **archive.params)
    return operations_chart(counts, archive.bucket)


def operations_chart(counts: pd.DataFrame, bucket: str = "minute") -> Figure:
    """A chart from (bucket, operation, events) rows counted per ``bucket``, re-bucketed to tens or hundreds
    of points over the span the rows cover (never finer than ``bucket``)."""
    fig, ax = new_figure()
    ax.set_title("Audit events over time: none in this window")
    if counts.empty:
        empty(ax, "no audit events in this window")
        return fig
    when = naive_utc(counts["bucket"])
    freq = _freq(when.max() - when.min(), bucket)
    table = (
        pd.DataFrame(
            {
                "t": when.dt.floor(freq),
                "operation": counts["operation"].astype(str),
                "events": pd.to_numeric(counts["events"]),
            }
        )
        .groupby(["t", "operation"])["events"]
        .sum()
        .unstack(fill_value=0)
    )
    # one empty bucket on each side: a burst inside a single bucket still shows as a peak, not a lone dot
    step = pd.tseries.frequencies.to_offset(freq)
    table = table.reindex(
        pd.date_range(table.index.min() - step, table.index.max() + step, freq=freq), fill_value=0
    )
    return lines_over_time(fig, ax, table, freq)


def archive_top_users(archive: AuditArchive, n: int = 10) -> Figure:
    """The ``n`` most active users (events, with their session count), counted by the engine."""
    return users_chart(archive.engine.run("top_users", limit=n, **archive.params), n)


def users_chart(users: pd.DataFrame, n: int = 10) -> Figure:
    fig, ax = new_figure(9.0, max(3.0, 0.4 * n + 1.5))
    ax.set_title("Audit events by user: none in this window")
    if users.empty:
        empty(ax, "no audit events in this window")
        return fig
    top = users.head(n).iloc[::-1]
    names = [str(u) if u else "(no user)" for u in top["username"]]
    events = pd.to_numeric(top["events"]).tolist()
    bars = ax.barh(names, events, color="#1f77b4")
    labels = [f"{int(s):,} session{'' if int(s) == 1 else 's'}" for s in pd.to_numeric(top["sessions"])]
    ax.bar_label(bars, labels=labels, fontsize=8, padding=3)
    ax.set_title(users_title(names, events))
    ax.set_xlabel("audit events")
    ax.set_ylabel("user")
    ax.margins(x=0.2)
    fig.tight_layout()
    return fig


def archive_failed_logins(archive: AuditArchive) -> Table:
    """Failed logins per user, client host and error code (1045: access denied), most first."""
    rows = failed_login_summary(archive.engine.run("failed_logins", **archive.params))
    attempts = int(pd.to_numeric(rows["attempts"]).sum()) if len(rows) else 0
    return audit_table(rows, f"Failed logins: {attempts:,} attempt(s) by {len(rows):,} user/host/error")


def failed_login_summary(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=FAILED_LOGIN_COLUMNS)
    rows = rows.assign(event_time=pd.to_datetime(rows["event_time"], utc=True))
    grouped = rows.groupby(["username", "client_host", "retcode"], dropna=False)["event_time"]
    frame = grouped.agg(attempts="size", first_seen="min", last_seen="max").reset_index()
    return frame[FAILED_LOGIN_COLUMNS].sort_values(
        ["attempts", "last_seen"], ascending=[False, False], ignore_index=True
    )


def archive_ddl_dcl(archive: AuditArchive, user: str = "") -> Table:
    """Schema (DDL) and privilege (DCL) statements, by user then time, with the statement text."""
    rows = archive.engine.run("ddl_dcl_by_user", user=user, **archive.params)
    return audit_table(rows, f"Schema and privilege changes (DDL, DCL): {len(rows):,} statement(s)")


def _freq(span: pd.Timedelta, bucket: str) -> str:
    """Tens to a few hundred points over the span, and no finer than the engine's bucket."""
    order = [freq for _, freq in _FREQS]
    wanted = next(freq for limit, freq in _FREQS if span.total_seconds() <= limit)
    return max(wanted, _BUCKET_FREQ[bucket], key=order.index)


__all__ = [
    "AuditArchive",
    "archive_ddl_dcl",
    "archive_events_over_time",
    "archive_failed_logins",
    "archive_top_users",
    "audit_archive",
    "failed_login_summary",
    "operations_chart",
    "users_chart",
]
