"""Tables for people: sizes, times, money and durations read as words, never as 1.2e+04 or a raw dict; the
curated views pick the columns a learner needs and keep the full frame one call away."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.dashboard import tables
from labkit.dashboard.cost import monthly_cost, scan_modes
from labkit.dashboard.state import STATE_COLUMNS, state_frame
from tests.unit.dashboard_items import NOW, item, ms

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


def cell_texts(html: str) -> str:
    """What the HTML shows in its cells (the Styler's ids and CSS hold random hex, like 4e0)."""
    return " ".join(re.findall(r"<td[^>]*>([^<]*)</td>", html))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0 B"), (512, "512 B"), (1_500, "1.5 KB"), (24_718_533, "24.7 MB"), (2.4e9, "2.4 GB"), (None, "-")],
)
def test_sizes_read_in_decimal_units(value: object, expected: str) -> None:
    assert tables.size(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(6008.123, "$6,008.12"), (0.0, "$0.00"), (0.0000166667, "$0.0000167"), (0.005, "$0.00500")],
)
def test_money_keeps_cents_and_the_digits_of_unit_prices(value: float, expected: str) -> None:
    assert tables.money(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(6.14, "6.1 s"), (190, "3.2 min"), (5 * 3600, "5.0 h"), (3 * 86400, "3.0 days")]
)
def test_durations_pick_a_unit_a_person_reads(value: float, expected: str) -> None:
    assert tables.duration(value) == expected


def test_times_are_utc_and_say_so() -> None:
    assert tables.utc_time(pd.Timestamp("2026-11-26T12:00:05.123Z")) == "2026-11-26 12:00:05 UTC"
    assert tables.utc_time(pd.NaT) == "-"


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18)


@given(finite)
def test_no_formatter_ever_writes_scientific_notation(value: float) -> None:
    for name, formatter in tables.FORMATTERS.items():
        if name == tables.TIME:
            continue
        out = formatter(value)
        assert not SCIENTIFIC.search(out), (name, value, out)


@given(st.lists(finite, min_size=1, max_size=5))
def test_every_numeric_column_is_shown_without_scientific_notation(values: list[float]) -> None:
    frame = pd.DataFrame({"quantity": values, "monthly_usd": values, "lag_s": values, "size": values})
    shown = tables.table(frame)
    assert not SCIENTIFIC.search(repr(shown)) and not SCIENTIFIC.search(cell_texts(shown._repr_html_()))


def test_dicts_and_lists_in_cells_become_words() -> None:
    frame = pd.DataFrame({"events": [{"QUERY": 3, "CONNECT": 1}], "files": [["a", "b"]], "ok": [True]})
    shown = repr(tables.table(frame))
    assert "{" not in shown and "[" not in shown
    assert "QUERY: 3, CONNECT: 1" in shown and "a, b" in shown and "yes" in shown


def test_column_kinds_follow_the_names_the_frames_use() -> None:
    frame = pd.DataFrame(
        {
            "pending_bytes": [1],
            "lag_s": [1.0],
            "usd_per_month": [1.0],
            "rds_calls_per_s": [0.5],
            "lambda_gb_s": [2.0],
            "files": [3],
            "last_written": pd.to_datetime([0], unit="s", utc=True),
        }
    )
    kinds = {c: tables.column_kind(c, frame[c]) for c in frame.columns}
    assert kinds == {
        "pending_bytes": tables.BYTES,
        "lag_s": tables.SECONDS,
        "usd_per_month": tables.MONEY,
        "rds_calls_per_s": tables.NUMBER,
        "lambda_gb_s": tables.NUMBER,
        "files": tables.COUNT,
        "last_written": tables.TIME,
    }


@pytest.fixture
def state() -> pd.DataFrame:
    return state_frame(
        [
            item("db-1", "audit.log.0", t.BACKED_UP, 24_718_533, 24_718_533, written_ago_s=60),
            item("db-1", "audit.log.1", t.PARTIAL, 2_000, 500, written_ago_s=5),
            item(
                "db-1", "audit.log.2", t.LOST, 900, 0, written_ago_s=90, vanished_at=ms(NOW), lost_bytes=900
            ),
        ],
        now=NOW,
    )


def test_the_tracking_table_shows_the_six_columns_a_learner_needs(state: pd.DataFrame) -> None:
    view = tables.tracking_table(state)
    assert (
        view.columns
        == tables.TRACKING_COLUMNS
        == ["file", "state", "size", "copied %", "last written", "parts"]
    )
    text = repr(view)
    assert "24.7 MB" in text and "25%" in text and "2026-11-26 11:59:00 UTC" in text
    assert "24718533" not in text
    # the LOST row is red in the HTML, as in every chart
    assert re.search(r"color: #d62728;\s*font-weight: bold", view._repr_html_())


def test_the_full_tracking_table_is_one_call_away(state: pd.DataFrame) -> None:
    full = tables.tracking_table(state, full=True)
    assert full.columns == STATE_COLUMNS
    assert full.frame is state  # the machine values stay as they are


def test_a_table_of_no_rows_says_so() -> None:
    assert repr(tables.tracking_table(state_frame([]))).endswith("no rows")


def test_the_cost_tables_read_as_dollars_without_scientific_notation() -> None:
    cost = monthly_cost(395_754_941_860.0, 10.0, 83_720.0)
    shown = repr(tables.table(cost))
    assert not SCIENTIFIC.search(shown)
    assert "$0.50" in shown and "$0.0000167" in shown
    modes = repr(tables.table(scan_modes(1e9)))
    assert not SCIENTIFIC.search(modes) and "$" in modes


def test_the_parts_table_names_its_columns_for_people() -> None:
    from labkit.backup.layout import PartKey
    from labkit.dashboard.state import PART_COLUMNS, parts_frame

    key = PartKey("audit-logs", "c-1", "db-1", "2026-11-26", "audit.log.0").key(1)
    parts = parts_frame(
        [({"Key": key, "Size": 471_500, "LastModified": NOW}, {"source-start": "0", "source-end": "3300000"})]
    )
    view = tables.parts_table(parts)
    assert view.columns == ["file", "part", "source", "gzip", "written"]
    assert "3.3 MB" in repr(view) and "471.5 KB" in repr(view) and "2026-11-26 12:00:00 UTC" in repr(view)
    assert tables.parts_table(parts, full=True).columns == PART_COLUMNS


def test_recorded_figures_read_as_words_with_their_units() -> None:
    shown = repr(
        tables.figures_table(
            {"bytes_backed_up": 24_718_533, "lag_s": 6.14, "files_lost": 0, "clean": True, "rows": [{"a": 1}]}
        )
    )
    assert "bytes backed up  24.7 MB" in shown and "6.1 s" in shown and "yes" in shown and "1 rows" in shown
    assert "{" not in shown


@given(st.integers(min_value=0, max_value=80), st.integers(min_value=1, max_value=40))
def test_a_long_table_shows_its_first_rows_and_says_how_many_it_has(rows: int, max_rows: int) -> None:
    # GIVEN a frame of `rows` rows shown with at most `max_rows`
    frame = pd.DataFrame({"event": [f"e{i:03d}" for i in range(rows)], "size": [1_500] * rows})
    shown = tables.table(frame, title="events", max_rows=max_rows)
    html = shown._repr_html_()
    # THEN the page has at most max_rows rows, the first ones, and the caption says how many were left out
    events = re.findall(r">(e\d{3})<", html)
    assert events == [f"e{i:03d}" for i in range(min(rows, max_rows))]
    told = f"the first {max_rows:,} of {rows:,} rows"
    assert (told in html) == (told in repr(shown)) == (rows > max_rows)
    # AND the frame keeps every row
    assert len(shown.frame) == rows


def test_a_table_reads_like_its_frame() -> None:
    frame = pd.DataFrame({"scans": [3], "bytes backed up": [24_718_533]})
    shown = tables.table(frame)
    assert shown.iloc[0].to_dict() == {"scans": 3, "bytes backed up": 24_718_533}
    assert list(shown["scans"]) == [3] and not shown.empty
    # IPython's probes for other formats are not answered by the frame's (a LaTeX or JSON table)
    assert not hasattr(shown, "_repr_latex_") and not hasattr(shown, "_repr_data_resource_")
    with pytest.raises(AttributeError):
        _ = shown.no_such_column
