"""Tables for people: sizes in KB/MB/GB, UTC times a person reads, money in $, no scientific notation.

Built on pandas' Styler (it needs only Jinja2, already there with nbconvert): the frame keeps its machine
values (numbers, timestamps) and only the display is formatted, so a cell shows ``24.7 MB`` while the frame
and the recorded ``*.values.json`` keep ``24718533``. great-tables and itables were weighed: both add a
dependency for what Styler does here (formatters per column, an HTML table that survives the HTML export);
itables' interactive tables also need JavaScript that an nbconvert export does not run.

A :class:`Table` shows itself as HTML (the Styler) and as plain text (the same formatted strings), so
papermill's text output and a terminal get a readable table too, never a repr. Column kinds come from the
column's name and dtype (``*_bytes``, ``size``: bytes; ``*_usd``: dollars; ``*_s``: seconds; datetimes:
UTC), or from ``kinds``. ``columns`` picks the curated view; ``full=True`` shows every column; a long frame
shows its first ``max_rows`` rows and says how many there are. A Table reads like its frame (``t["col"]``,
``t.iloc[0]``, ``t.empty``), so a workbook step can return one where it returned the frame.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from labkit.dashboard.palette import ALARM_COLORS, STATE_COLORS

BYTES, MONEY, SECONDS, TIME, COUNT, NUMBER, PERCENT, TEXT = (
    "bytes",
    "money",
    "seconds",
    "time",
    "count",
    "number",
    "percent",
    "text",
)
_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"))
_BYTE_WORDS = ("bytes", "size", "in s3")
MAX_TEXT = 120  # a longer cell (an error message, a statement) is cut with an ellipsis
MAX_ROWS = 30  # a longer table shows this many rows and says how many it has


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts
        return False


def size(value: Any) -> str:
    """Bytes as a person reads them (decimal units, as S3's console and the RDS API count): ``24.7 MB``."""
    if is_missing(value):
        return "-"
    n = float(value)
    for divisor, unit in _UNITS:
        if abs(n) >= divisor:
            return f"{n / divisor:,.1f} {unit}"
    return f"{n:,.0f} B"


def money(value: Any) -> str:
    """Dollars: cents for bills, more digits for unit prices below a cent (``$0.0000167``), never ``1e-05``."""
    if is_missing(value):
        return "-"
    x = float(value)
    if x == 0 or abs(x) >= 0.01:
        return f"${x:,.2f}"
    digits = min(12, 2 - math.floor(math.log10(abs(x))))  # three significant digits
    return f"${x:.{digits}f}"


def duration(value: Any) -> str:
    """Seconds as ``6.1 s``, ``3.2 min``, ``5.0 h`` or ``2.0 days``."""
    if is_missing(value):
        return "-"
    s = float(value)
    if math.isinf(s):
        return "never"
    for limit, divisor, unit in ((2 * 86400, 86400, "days"), (2 * 3600, 3600, "h"), (120, 60, "min")):
        if abs(s) >= limit:
            return f"{s / divisor:,.1f} {unit}"
    return f"{s:,.1f} s"


def utc_time(value: Any) -> str:
    """``2026-11-26 12:00:05 UTC``: seconds are enough to read, the frame keeps the milliseconds."""
    if is_missing(value):
        return "-"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def count(value: Any) -> str:
    return "-" if is_missing(value) else f"{float(value):,.0f}"


def number(value: Any) -> str:
    """A float without scientific notation: three significant digits below 100, whole numbers above."""
    if is_missing(value):
        return "-"
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0 or abs(x) >= 100:
        return f"{x:,.0f}"
    digits = min(12, 2 - math.floor(math.log10(abs(x))))
    return f"{x:,.{max(digits, 0)}f}"


def percent(value: Any) -> str:
    return "-" if is_missing(value) else f"{float(value):.0f}%"


def text(value: Any) -> str:
    """Any other value as words: lists joined, mappings as ``key: value`` pairs, long text cut."""
    if is_missing(value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        value = ", ".join(f"{k}: {text(v)}" for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        value = ", ".join(text(v) for v in value)
    elif isinstance(value, datetime):
        return utc_time(value)
    elif isinstance(value, float):
        return number(value)
    out = str(value)
    return out if len(out) <= MAX_TEXT else out[: MAX_TEXT - 1] + "…"


FORMATTERS: dict[str, Callable[[Any], str]] = {
    BYTES: size,
    MONEY: money,
    SECONDS: duration,
    TIME: utc_time,
    COUNT: count,
    NUMBER: number,
    PERCENT: percent,
    TEXT: text,
}


def column_kind(name: str, series: pd.Series) -> str:
    """What a column holds, from its name first (``lag_s`` is seconds, not a number), then its dtype."""
    lowered = str(name).lower()
    if pd.api.types.is_bool_dtype(series) or (series.dtype == object and not _numeric(series)):
        return TEXT
    if pd.api.types.is_datetime64_any_dtype(series):
        return TIME
    if lowered.endswith("usd") or "usd_" in lowered or lowered.endswith("$"):
        return MONEY
    if lowered.endswith(("%", "_pct")):
        return PERCENT
    if lowered.endswith(("per_s", "gb_s", "bps")):  # rates and GB-seconds: plain numbers
        return NUMBER
    if lowered.endswith("_s") or lowered in ("seconds", "lag", "age"):
        return SECONDS
    if any(word in lowered for word in _BYTE_WORDS):
        return BYTES
    if pd.api.types.is_integer_dtype(series):
        return COUNT
    if pd.api.types.is_numeric_dtype(series):
        return NUMBER
    return TEXT


def _numeric(series: pd.Series) -> bool:
    values = [v for v in series if not is_missing(v)]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def readable(frame: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every cell as the string a person reads (the plain-text view, and what tests check)."""
    chosen = {c: (kinds or {}).get(str(c)) or column_kind(str(c), frame[c]) for c in frame.columns}
    return pd.DataFrame(
        {c: [FORMATTERS[chosen[c]](v) for v in frame[c]] for c in frame.columns}, index=frame.index
    )


@dataclass
class Table:
    """A frame shown for people: the curated columns, formatted; ``frame`` keeps every machine value."""

    frame: pd.DataFrame
    columns: list[str]
    kinds: dict[str, str]
    title: str = ""
    max_rows: int = MAX_ROWS
    notes: list[str] = field(default_factory=list)  # sentences shown under the table: what a value means

    @property
    def shown(self) -> pd.DataFrame:
        return self.frame[self.columns]

    @property
    def caption(self) -> str:
        """The title, and when rows are left out, how many are shown of how many."""
        if len(self.frame) <= self.max_rows:
            return self.title
        cut = f"the first {self.max_rows:,} of {len(self.frame):,} rows (.frame holds them all)"
        return f"{self.title}: {cut}" if self.title else cut

    def __getattr__(self, name: str) -> Any:
        """What the frame has (``iloc``, ``empty``, ``to_dict``); IPython's ``_repr_*`` probes are not passed on."""
        if name.startswith("_") or name == "frame":
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __getitem__(self, key: Any) -> Any:
        return self.frame[key]

    def styler(self) -> Any:
        shown = self.shown.head(self.max_rows)
        chosen = {c: self.kinds.get(c) or column_kind(c, shown[c]) for c in shown.columns}
        styler = shown.style.format({c: FORMATTERS[k] for c, k in chosen.items()}).hide(axis="index")
        for column in ("state", "alarm state"):
            if column in shown.columns:
                styler = styler.map(_state_style, subset=[column])
        styler = styler.set_table_styles(
            [{"selector": "th, td", "props": "text-align: left; white-space: nowrap; padding: 2px 8px"}]
        )
        if not self.caption:
            return styler
        caption = {"selector": "caption", "props": "text-align: left; font-weight: bold; padding: 4px 0"}
        return styler.set_caption(self.caption).set_table_styles([caption], overwrite=False)

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        if self.frame.empty:
            return f"<p><b>{html.escape(self.title or 'table')}</b>: no rows</p>{notes}"
        return str(self.styler().to_html()) + notes

    def __repr__(self) -> str:
        if self.frame.empty:
            return "\n".join([f"{self.title or 'table'}: no rows", *self.notes])
        cells = readable(self.shown.head(self.max_rows), self.kinds)
        rows = [list(map(str, cells.columns)), *cells.values.tolist()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        body = "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        )
        return "\n".join([*([self.caption] if self.caption else []), body, *self.notes])

    def __len__(self) -> int:
        return len(self.frame)


def _state_style(value: Any) -> str:
    color = STATE_COLORS.get(str(value)) or ALARM_COLORS.get(str(value))
    bold = str(value) in ("LOST", "FAILED", "ALARM")
    return f"color: {color}; font-weight: {'bold' if bold else 'normal'}" if color else ""


def table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    full: bool = False,
    kinds: Mapping[str, str] | None = None,
    title: str = "",
    max_rows: int = MAX_ROWS,
) -> Table:
    """``frame`` for people: ``columns`` (default: all) unless ``full``; ``kinds`` overrides a column's kind;
    at most ``max_rows`` rows are shown (the frame keeps them all)."""
    picked = list(frame.columns) if full or columns is None else [c for c in columns if c in frame.columns]
    return Table(frame, [str(c) for c in picked], dict(kinds or {}), title, max_rows)


TRACKING_COLUMNS = ["file", "state", "size", "copied %", "last written", "parts"]


def tracking_table(state: pd.DataFrame, *, full: bool = False) -> Table:
    """Notebook 50's view of the tracking table: file, state, size, copied %, last written, parts per file.

    ``full=True`` shows all of ``labkit.dashboard.state.STATE_COLUMNS`` (``state`` itself is the frame)."""
    if full:
        return table(state, full=True, title=f"{len(state)} tracked audit files, every column")
    view = pd.DataFrame(
        {
            "instance": state["instance_id"],
            "file": state["log_file_name"],
            "state": state["state"],
            "size": state["size"],
            "copied %": (state["copied_bytes"] / state["size"].where(state["size"] > 0) * 100).fillna(100.0),
            "last written": state["last_written"],
            "parts": state["parts"],
        }
    )
    columns = ["instance", *TRACKING_COLUMNS] if state["instance_id"].nunique() > 1 else TRACKING_COLUMNS
    return table(
        view,
        columns,
        kinds={"copied %": PERCENT, "size": BYTES},
        title=f"{len(state)} tracked audit files (dashboard.tracking_table(state, full=True): every column)",
    )


PARTS_COLUMNS = ["file", "part", "source", "gzip", "written"]


def parts_table(parts: pd.DataFrame, *, full: bool = False) -> Table:
    """The S3 parts: which file, which part, source and gzip size, when it was written (``full=True``:
    every column of ``labkit.dashboard.state.PART_COLUMNS``, the key included)."""
    title = f"{len(parts)} part objects in S3"
    if full:
        return table(parts, full=True, title=title)
    view = pd.DataFrame(
        {
            "instance": parts["instance_id"],
            "file": parts["file_id"],
            "part": parts["part"],
            "source": parts["source_bytes"],
            "gzip": parts["compressed_bytes"],
            "written": parts["last_modified"],
        }
    )
    columns = ["instance", *PARTS_COLUMNS] if parts["instance_id"].nunique() > 1 else PARTS_COLUMNS
    return table(view, columns, kinds={"source": BYTES, "gzip": BYTES}, title=title)


def figures_table(values: Mapping[str, Any], title: str = "") -> Table:
    """A mapping of named figures (a summary, recorded values) as two columns a person reads: the name
    in words, the value formatted by what its name says it is (``*_bytes``: bytes, ``*_s``: seconds)."""
    rows = [
        {"figure": str(key).replace("_", " "), "value": _figure(str(key), value)}
        for key, value in values.items()
    ]
    return table(pd.DataFrame(rows, columns=["figure", "value"]), kinds={"value": TEXT}, title=title)


def _figure(key: str, value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return f"{len(value)} rows"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return text(value)
    return FORMATTERS[column_kind(key, pd.Series([value]))](value)


# Numbers that are names, not amounts: error 1045, connection 15, not "1,045" and "15".
IDENTIFIERS = (
    "retcode",
    "connection_id",
    "query_id",
    "version",
    "new version",
    "was",
    "now",
    "live still at",
)


def audit_table(frame: pd.DataFrame, title: str = "", max_rows: int = MAX_ROWS) -> Table:
    """Rows of audit events or of a query over them (notebooks 80, 85): every column, ids and error
    codes as written (``1045``), event times as UTC, long statements cut."""
    kinds = {c: TEXT for c in frame.columns if str(c) in IDENTIFIERS}
    return table(frame, kinds=kinds, title=title, max_rows=max_rows)
