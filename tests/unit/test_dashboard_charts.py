"""The backup charts show what an operator must notice: LOST in red, FAILED in orange, lag, bytes, ratio,
risk. Checked on the figure's artists (bars, lines, labels), not on pixels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.dashboard import charts
from labkit.dashboard.state import parts_frame, state_frame
from tests.unit.dashboard_items import NOW, item, ms, risk_items


def containers(fig) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {c.get_label(): c for c in fig.axes[0].containers}


@pytest.fixture
def state() -> pd.DataFrame:
    items = [
        item("db-1", "a", t.BACKED_UP, 100, 100, written_ago_s=600, caught_up_after_s=5),
        item("db-1", "b", t.LOST, 100, 0, written_ago_s=900, vanished_at=ms(NOW), lost_bytes=100),
        item("db-1", "c", t.LOST, 100, 0, written_ago_s=900, vanished_at=ms(NOW), lost_bytes=100),
        item("db-2", "d", t.PARTIAL, 5_000_000, 1_000_000, written_ago_s=300),
        item("db-2", "e", t.FAILED, 100, 0, written_ago_s=400),
    ]
    return state_frame(items, now=NOW)


@pytest.fixture
def parts() -> pd.DataFrame:
    rows = []
    for n, (instance, source, compressed) in enumerate(
        [("db-1", 1000, 100), ("db-1", 3000, 100), ("db-2", 500, 100)]
    ):
        key = PartKey("audit-logs", "c-1", instance, "2026-11-26", f"f{n}").key(1)
        when = NOW + timedelta(minutes=n)
        rows.append(
            (
                {"Key": key, "Size": compressed, "LastModified": when},
                {"source-start": "0", "source-end": str(source)},
            )
        )
    return parts_frame(rows)


def test_files_by_state_highlights_lost_in_red_and_failed_in_orange(state: pd.DataFrame) -> None:
    fig = charts.files_by_state(state)
    bars = containers(fig)
    # THEN there is a LOST series, red and hatched, with the two lost files of db-1 and none on db-2
    lost = bars["LOST"]
    assert [p.get_height() for p in lost.patches] == [2, 0]
    assert lost.patches[0].get_facecolor() == to_rgba(charts.STATE_COLORS[t.LOST]) == to_rgba("#d62728")
    assert lost.patches[0].get_hatch() == "//"
    failed = bars["FAILED"]
    assert [p.get_height() for p in failed.patches] == [0, 1]
    assert failed.patches[1].get_facecolor() == to_rgba("#ff7f0e")
    # states that no file is in get no series; the title carries the counts
    assert set(bars) == {t.BACKED_UP, t.PARTIAL, t.LOST, t.FAILED}
    assert "2 LOST, 1 FAILED" in fig.axes[0].get_title()


def test_charts_do_not_leave_figures_open_in_pyplot(state: pd.DataFrame) -> None:
    before = plt.get_fignums()
    charts.files_by_state(state)
    charts.backup_lag(state)
    assert plt.get_fignums() == before


def test_backup_lag_shows_one_bar_per_instance(state: pd.DataFrame) -> None:
    fig = charts.backup_lag(state)
    (bars,) = fig.axes[0].containers
    # db-1: nothing pending, its newest file was copied 5 s after its last write; db-2: pending for 400 s
    assert [p.get_height() for p in bars.patches] == pytest.approx([5 / 60, 400 / 60])
    assert fig.axes[0].get_ylabel() == "lag (minutes)"
    assert bars.patches[1].get_facecolor() == to_rgba("#ff7f0e")  # pending bytes: orange


def test_bytes_backed_up_over_time_is_cumulative_per_instance(parts: pd.DataFrame) -> None:
    fig = charts.bytes_backed_up_over_time(parts)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"db-1", "db-1 (gzip in S3)", "db-2", "db-2 (gzip in S3)"}
    assert list(lines["db-1"].get_ydata()) == pytest.approx([0, 0.001, 0.004])
    assert list(lines["db-1 (gzip in S3)"].get_ydata()) == pytest.approx([0, 0.0001, 0.0002])


def test_compression_ratio_per_instance_and_overall(parts: pd.DataFrame) -> None:
    fig = charts.compression_ratio(parts)
    (bars,) = fig.axes[0].containers
    assert [p.get_height() for p in bars.patches] == pytest.approx([20.0, 5.0])
    overall = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("overall"))
    assert overall.get_ydata()[0] == pytest.approx(4500 / 300)


def test_loss_risk_colours_instances_by_status() -> None:
    frame = state_frame(risk_items(), now=NOW)
    fig = charts.loss_risk(frame, retention_hours=24, now=NOW)
    bars = containers(fig)
    left = bars["time left before eviction"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    colour = {label: p.get_facecolor() for label, p in zip(labels, left.patches, strict=True)}
    assert colour["db-risk"] == to_rgba("#ff7f0e") and colour["db-over"] == to_rgba("#d62728")
    assert colour["db-ok"] == to_rgba("#2ca02c")
    assert "2 instance(s) at risk" in fig.axes[0].get_title()
    assert "current lag" in bars


@pytest.mark.parametrize(
    "chart",
    [charts.files_by_state, charts.backup_lag, lambda f: charts.loss_risk(f, 24)],
)
def test_state_charts_of_an_empty_table_say_so(chart) -> None:  # type: ignore[no-untyped-def]
    fig = chart(state_frame([]))
    assert "no tracked audit files" in fig.axes[0].texts[0].get_text()


@pytest.mark.parametrize("chart", [charts.bytes_backed_up_over_time, charts.compression_ratio])
def test_part_charts_of_an_empty_bucket_say_so(chart) -> None:  # type: ignore[no-untyped-def]
    fig = chart(parts_frame([]))
    assert "no backup parts" in fig.axes[0].texts[0].get_text()


def test_a_figure_renders_to_png(state: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "files.png"
    charts.files_by_state(state).savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_naive_utc_keeps_the_wall_clock_of_utc() -> None:
    series = pd.Series([pd.Timestamp(datetime(2026, 1, 1, 10, tzinfo=UTC))])
    assert charts.naive_utc(series)[0] == pd.Timestamp("2026-01-01 10:00")


def test_loss_risk_draws_seconds_of_lag_and_a_day_of_retention_on_one_readable_scale() -> None:
    # GIVEN an instance whose oldest uncopied byte was written 6 s ago, against 24 h of retention
    frame = state_frame([item("db-1", "a", t.PARTIAL, 100, 50, written_ago_s=6)], now=NOW)
    fig = charts.loss_risk(frame, retention_hours=24, now=NOW)
    ax = fig.axes[0]
    bars = containers(fig)
    # THEN the axis is logarithmic, so both bars are visibly long: the 6 s lag and the 24 h left
    assert ax.get_xscale() == "log"
    left, lag = bars["time left before eviction"].patches[0], bars["current lag"].patches[0]
    assert left.get_x() + left.get_width() == pytest.approx(24 * 3600 - 6)
    assert lag.get_x() + lag.get_width() == pytest.approx(6)
    # AND the title gives the conclusion, the ticks carry their units
    assert ax.get_title() == "Nothing at risk (retention 24 h): the oldest uncopied byte has 24.0 h left"
    assert {"1 s", "1 min", "1 h", "1 d"} <= {t.get_text() for t in ax.get_xticklabels()}


def test_loss_risk_with_nothing_pending_says_nothing_is_at_risk() -> None:
    frame = state_frame(
        [item("db-1", "a", t.BACKED_UP, 100, 100, written_ago_s=60, caught_up_after_s=6)], now=NOW
    )
    fig = charts.loss_risk(frame, retention_hours=24, now=NOW)
    ax = fig.axes[0]
    assert ax.get_title() == "Nothing at risk: every audit byte seen is in S3 (retention 24 h)"
    texts = [x.get_text() for x in ax.texts]
    assert "nothing at risk" in texts
    assert "nothing pending: caught up 6.0 s after the last write" in texts
    # no bar is drawn for an instance with nothing waiting
    assert all(pd.isna(p.get_width()) for c in ax.containers for p in c.patches)


def test_every_state_chart_titles_its_conclusion_and_labels_its_axes(
    state: pd.DataFrame, parts: pd.DataFrame
) -> None:
    titles = {
        "files": charts.files_by_state(state),
        "bytes": charts.bytes_backed_up_over_time(parts),
        "lag": charts.backup_lag(state),
        "ratio": charts.compression_ratio(parts),
    }
    assert titles["files"].axes[0].get_title() == "Audit files: 3 of 5 need attention (2 LOST, 1 FAILED)"
    assert (
        titles["bytes"].axes[0].get_title() == "4.5 KB of audit log backed up, stored as 300 B of gzip in S3"
    )
    assert titles["lag"].axes[0].get_title() == "Backup lag: at most 6.7 min, 4.0 MB pending"
    assert titles["ratio"].axes[0].get_title().startswith("gzip stores the audit log 15.0x smaller")
    for name, fig in titles.items():
        ax = fig.axes[0]
        assert ax.get_ylabel() and ax.get_xlabel(), name


def test_the_audit_and_cost_charts_title_their_conclusion() -> None:
    from labkit.dashboard.audit_search import operations_chart, users_chart
    from labkit.dashboard.cost import CLOUDWATCH, cost_chart, cost_totals, monthly_cost

    counts = pd.DataFrame(
        {
            "bucket": [NOW, NOW, NOW + timedelta(minutes=1)],
            "operation": ["QUERY", "CONNECT", "QUERY"],
            "events": [30, 10, 60],
        }
    )
    assert operations_chart(counts).axes[0].get_title() == (
        "100 audit events in this window, most of them QUERY (90, 90%)"
    )
    users = pd.DataFrame({"username": ["app", "root"], "events": [90, 10], "sessions": [3, 1]})
    ax = users_chart(users).axes[0]
    assert ax.get_title() == "app wrote the most audit events: 90 of 100 among the top 2 users"
    assert ax.get_xlabel() == "audit events" and ax.get_ylabel() == "user"
    cost = monthly_cost(1e9, 10.0, 10.0)
    title = cost_chart(cost).axes[0].get_title()
    assert title.startswith("Monthly cost of keeping the audit logs: S3 pipeline $")
    assert title.endswith(f"CloudWatch Logs ${cost_totals(cost)[CLOUDWATCH]:,.2f}")
