"""The headline at the top of notebooks 50, 60 and 80 (and the Voila page): is everything backed up?

One card: files and bytes backed up, LOST and FAILED (in their colours when not zero), the current lag and
the oldest uncopied byte's age against the instance's retention, the compression, and the alarms. It shows
itself as HTML in a notebook and as a few plain lines in papermill's text output or a terminal; ``values``
holds the same figures as numbers for ``workbook.record``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from labkit.backup import table as t
from labkit.dashboard.palette import ALARM_COLORS, GREEN, GREY, ORANGE, RED, STATE_COLORS
from labkit.dashboard.risk import instance_lag
from labkit.dashboard.tables import duration, size

ALARM = "ALARM"


@dataclass(frozen=True)
class Tile:
    """One figure of the card: what it counts, the figure, a line under it, and its colour."""

    label: str
    figure: str
    detail: str = ""
    color: str = ""


@dataclass
class Headline:
    """The card; ``values`` are its figures as numbers (bytes, seconds, counts)."""

    verdict: str
    ok: bool
    tiles: list[Tile]
    values: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        color = GREEN if self.ok else RED
        tiles = "".join(
            '<div style="border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:130px">'
            f'<div style="font-size:11px;color:{GREY}">{html.escape(tile.label)}</div>'
            f'<div style="font-size:20px;font-weight:bold;color:{tile.color or "inherit"}">'
            f"{html.escape(tile.figure)}</div>"
            f'<div style="font-size:11px;color:{GREY}">{html.escape(tile.detail)}</div></div>'
            for tile in self.tiles
        )
        return (
            f'<div class="labkit-headline" style="font-family:sans-serif;margin:4px 0 10px 0">'
            f'<div style="font-size:16px;font-weight:bold;color:{color};margin-bottom:6px">'
            f"{html.escape(self.verdict)}</div>"
            f'<div style="display:flex;flex-wrap:wrap;gap:8px">{tiles}</div></div>'
        )

    def __repr__(self) -> str:
        width = max(len(tile.label) for tile in self.tiles)
        lines = [self.verdict]
        lines += [f"  {tile.label:<{width}}  {tile.figure}  {tile.detail}".rstrip() for tile in self.tiles]
        return "\n".join(lines)


def headline(
    state: pd.DataFrame,
    parts: pd.DataFrame,
    retention_hours: float = 24.0,
    alarms: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Headline:
    """The card for a tracking-table frame and a parts frame (``labkit.dashboard.state``), with
    ``alarms`` as alarm name -> state (``ALARM``, ``OK``, ``INSUFFICIENT_DATA``; None: not evaluated)."""
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    counts = state["state"].value_counts() if not state.empty else pd.Series(dtype=int)
    backed_up, lost, failed = (int(counts.get(s, 0)) for s in (t.BACKED_UP, t.LOST, t.FAILED))
    copied = int(state["copied_bytes"].sum()) if not state.empty else 0
    lost_bytes = int(state["lost_bytes"].sum()) if not state.empty else 0
    pending = state[state["pending_bytes"] > 0] if not state.empty else state
    pending_bytes = int(pending["pending_bytes"].sum()) if not pending.empty else 0
    lags = instance_lag(state).dropna() if not state.empty else pd.Series(dtype=float)
    lag = float(lags.max()) if len(lags) else None
    oldest_age = float((stamp - pending["last_written"].min()).total_seconds()) if not pending.empty else None
    retention_s = float(retention_hours) * 3600
    known = parts.dropna(subset=["source_bytes"]) if not parts.empty else parts
    source_in_s3 = int(known["source_bytes"].sum()) if not known.empty else 0
    gzip_bytes = int(known["compressed_bytes"].sum()) if not known.empty else 0
    ratio = source_in_s3 / gzip_bytes if gzip_bytes else None
    firing = sorted(k for k, v in (alarms or {}).items() if v == ALARM)

    tiles = [
        Tile("backed up", f"{backed_up:,} files", f"{size(copied)} in S3", GREEN if backed_up else ""),
        Tile(
            "LOST",
            f"{lost:,} files",
            f"{size(lost_bytes)} gone before a copy" if lost else "nothing lost",
            RED if lost else "",
        ),
        Tile(
            "FAILED",
            f"{failed:,} files",
            "copies keep failing: labkit retry-failed" if failed else "no failing copy",
            STATE_COLORS[t.FAILED] if failed else "",
        ),
        Tile(
            "current lag",
            "-" if lag is None else duration(lag),
            f"{size(pending_bytes)} pending" if pending_bytes else "nothing pending",
        ),
        _oldest_tile(oldest_age, retention_s),
        Tile(
            "compression",
            "-" if ratio is None else f"{ratio:,.1f}x",
            f"{size(source_in_s3)} -> {size(gzip_bytes)} gzip" if ratio else "no part in S3 yet",
        ),
        _alarm_tile(alarms, firing),
    ]
    healthy = not lost and not failed and not firing and (oldest_age is None or oldest_age < retention_s)
    growing = len(state) - backed_up - lost - failed
    if not healthy:
        verdict = f"Needs attention: {lost:,} LOST, {failed:,} FAILED, {len(firing)} alarm(s) firing"
    elif pending_bytes:
        verdict = f"Backing up: {size(pending_bytes)} pending, nothing lost"
    elif growing:
        verdict = (
            f"Every byte seen is in S3: {size(copied)} from {len(state):,} files "
            f"({backed_up:,} sealed and backed up, {growing:,} still growing), 0 lost"
        )
    else:
        verdict = f"All backed up: {backed_up:,} files, {size(copied)} in S3, 0 lost"
    values = {
        "files": len(state),
        "files_backed_up": backed_up,
        "bytes_backed_up": copied,
        "files_lost": lost,
        "bytes_lost": lost_bytes,
        "files_failed": failed,
        "bytes_pending": pending_bytes,
        "lag_s": lag,
        "oldest_uncopied_age_s": oldest_age,
        "retention_s": retention_s,
        "source_bytes_in_s3": source_in_s3,
        "compressed_bytes": gzip_bytes,
        "compression_ratio": ratio,
        "alarms": len(alarms or {}),
        "alarms_firing": firing,
        "healthy": healthy,
    }
    return Headline(verdict, healthy, tiles, values)


def _oldest_tile(age_s: float | None, retention_s: float) -> Tile:
    if age_s is None:
        return Tile(
            "oldest uncopied byte", "none", f"every byte seen is in S3 (retention {duration(retention_s)})"
        )
    share = age_s / retention_s if retention_s else 1.0
    color = RED if share >= 1 else ORANGE if share >= 0.5 else ""
    return Tile("oldest uncopied byte", duration(age_s), f"old, of {duration(retention_s)} retention", color)


def _alarm_tile(alarms: Mapping[str, str] | None, firing: list[str]) -> Tile:
    if alarms is None:
        return Tile("alarms", "-", "not evaluated here")
    if firing:
        return Tile("alarms", f"{len(firing)} firing", ", ".join(firing), ALARM_COLORS[ALARM])
    return Tile("alarms", f"0 of {len(alarms)} firing", "all OK or no data", "")
