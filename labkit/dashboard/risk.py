"""Loss risk: will the oldest file not yet copied be deleted by retention before the backup reaches it?
And (``history_cover_table``) does each instance keep its audit files long enough for the scans to see them?

Aurora deletes audit files by age (REFERENCE: 24 h in older docs), whether or not anyone copied them. The
time left for a file is ``last_written + retention - now``. The instance's current lag is how far behind its
backup is: the age of its oldest uncopied write, or, when nothing is pending, how long after its newest
file's last write the copy caught up. A file is *at risk* when its time left is no more than that lag: at the
pace seen so far, the copy would not arrive in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from labkit.backup.sizing import HistoryPolicy, history_rows

RISK_COLUMNS = [
    "instance_id",
    "files",
    "pending_files",
    "pending_bytes",
    "lost_files",
    "lost_bytes",
    "failed_files",
    "oldest_uncopied_file",
    "oldest_uncopied_written",
    "lag_s",
    "time_to_eviction_s",
    "headroom_s",
    "status",
]
OK, AT_RISK, OVERDUE, NOTHING_PENDING = "ok", "at risk", "overdue", "nothing pending"


def instance_lag(state: pd.DataFrame) -> pd.Series:
    """Current backup lag per instance, in seconds (see the module docstring)."""
    lags: dict[str, float] = {}
    for instance, files in state.groupby("instance_id", sort=True):
        pending = files[files["pending_bytes"] > 0]
        if len(pending):
            lags[str(instance)] = float(pending["lag_s"].max())
            continue
        live = files[files["vanished_at"].isna()]
        pool = live if len(live) else files
        newest = pool.sort_values("last_written").iloc[-1] if len(pool) else None
        lags[str(instance)] = float(newest["lag_s"]) if newest is not None else float("nan")
    return pd.Series(lags, name="lag_s", dtype=float)


def loss_risk_table(state: pd.DataFrame, retention_hours: float, now: datetime | None = None) -> pd.DataFrame:
    """One row per instance: pending and lost bytes, the oldest uncopied file, time left vs current lag."""
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    retention_s = float(retention_hours) * 3600.0
    lags = instance_lag(state)
    rows = []
    for instance, files in state.groupby("instance_id", sort=True):
        pending = files[files["pending_bytes"] > 0].sort_values("last_written")
        oldest = pending.iloc[0] if len(pending) else None
        lag = float(lags.get(str(instance), float("nan")))
        if oldest is None:
            left, status = float("nan"), NOTHING_PENDING
        else:
            left = retention_s - (stamp - oldest["last_written"]).total_seconds()
            status = OVERDUE if left <= 0 else AT_RISK if left <= lag else OK
        rows.append(
            {
                "instance_id": instance,
                "files": len(files),
                "pending_files": len(pending),
                "pending_bytes": int(pending["pending_bytes"].sum()),
                "lost_files": int((files["state"] == "LOST").sum()),
                "lost_bytes": int(files["lost_bytes"].sum()),
                "failed_files": int((files["state"] == "FAILED").sum()),
                "oldest_uncopied_file": None if oldest is None else oldest["log_file_name"],
                "oldest_uncopied_written": None if oldest is None else oldest["last_written"],
                "lag_s": lag,
                "time_to_eviction_s": left,
                "headroom_s": left - lag,
                "status": status,
            }
        )
    frame = pd.DataFrame(rows, columns=RISK_COLUMNS)
    frame["oldest_uncopied_written"] = pd.to_datetime(frame["oldest_uncopied_written"], utc=True)
    for column in ("lag_s", "time_to_eviction_s", "headroom_s"):
        frame[column] = frame[column].astype(float)
    return frame


HISTORY_COLUMNS = [
    "instance_id",
    "scheme",
    "verdict",
    "covered_scans",
    "history_s",
    "scan_period_s",
    "audit_rate_bps",
    "rotate_size",
    "rotations",
    "setting_from",
    "change",
    "note",
]


def history_cover_table(
    items: Iterable[Mapping[str, Any]], policy: HistoryPolicy, now_ms: float | None = None
) -> pd.DataFrame:
    """One row per instance: the kept history (rotate size x files kept, or Aurora's retention) in scan
    periods, judged on the last listing the detector recorded (the table's live items), and what to change."""
    return pd.DataFrame(history_rows(items, policy, now_ms), columns=HISTORY_COLUMNS)
