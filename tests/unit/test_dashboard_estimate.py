"""Honest cost: the lab's burst is shown as a burst, the volume is the reader's, and only what the lab
measures (compression, overhead per part) is applied to it; the fleet table is for the reader's fleet."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.dashboard import estimate
from labkit.dashboard.cost import DEFAULT_COMPRESSION_RATIO, monthly_cost
from labkit.dashboard.state import parts_frame, state_frame
from tests.unit.dashboard_items import NOW, item

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


def parts_of(*sizes: tuple[int, int]) -> pd.DataFrame:
    return parts_frame(
        (
            {"Key": PartKey("audit-logs", "c-1", "db-1", "2026-11-26", f"f{n}").key(1), "Size": gz},
            {"source-start": "0", "source-end": str(source)},
        )
        for n, (source, gz) in enumerate(sizes)
    )


def test_the_fit_separates_the_ratio_of_large_parts_from_the_overhead_per_part() -> None:
    # GIVEN parts that compress 20x plus 500 bytes each
    parts = parts_of(*((n, n // 20 + 500) for n in (10_000, 100_000, 1_000_000, 5_000_000)))
    ratio, overhead = estimate.compression_fit(parts)
    assert ratio == pytest.approx(20.0, rel=1e-3) and overhead == pytest.approx(500, abs=1)


def test_one_part_size_gives_the_overall_ratio_and_no_overhead() -> None:
    assert estimate.compression_fit(parts_of((1000, 100), (1000, 100))) == (10.0, 0.0)


@pytest.fixture
def lab() -> estimate.LabMeasurement:
    # a 12-second lab burst: 24.7 MB in two files first seen 10 minutes before the last write
    state = state_frame(
        [
            item("db-1", "a", t.BACKED_UP, 20_000_000, 20_000_000, written_ago_s=0),
            item("db-2", "b", t.BACKED_UP, 4_700_000, 4_700_000, written_ago_s=0),
        ],
        now=NOW,
    )
    parts = parts_of(*((n, n // 20 + 500) for n in (10_000, 100_000, 1_000_000, 5_000_000)))
    return estimate.lab_measurement(state, parts, window_s=12)


def test_the_burst_is_shown_as_a_rate_and_never_as_a_day(lab: estimate.LabMeasurement) -> None:
    text = repr(lab)
    assert "The lab wrote 24.7 MB in 2 audit files over 12.0 s: a burst of 2.1 MB/s" in text
    assert "It is a burst, not a day's volume" in text
    assert not re.search(r"\d GB", text)  # 2.1 MB/s x 86,400 s (178 GB) is nowhere on the page


def test_your_volume_is_the_parameter_with_the_labs_overhead_applied(lab: estimate.LabMeasurement) -> None:
    usage = estimate.your_usage(lab, audit_gb_per_day=10, instances=4)
    assert usage.audit_bytes_per_day == 10e9
    # 10 GB / 100 MB rotations = 100 files; 1,440 scans x 4 instances x 4 active files + 100 files
    assert usage.files_per_day == 100 and usage.parts_per_day == 1440 * 16 + 100
    stored = 10e9 / lab.compression_ratio + lab.part_overhead_bytes * usage.parts_per_day
    assert usage.compression_ratio == pytest.approx(10e9 / stored)
    assert usage.compression_ratio < lab.compression_ratio  # small parts cost their overhead
    assert usage.values["your_audit_bytes_per_day"] == 10e9 and usage.values["source_bytes"] == 24_700_000
    # THEN the bill follows the reader's volume, not the lab's burst
    bill = monthly_cost(
        usage.audit_bytes_per_day, usage.compression_ratio, usage.files_per_day, shape=usage.shape
    )
    ingest = bill.set_index("item").loc["CloudWatch Logs ingestion", "monthly_usd"]
    assert ingest == pytest.approx(10e9 * 730 / 24 / 1024**3 * 0.50)


def test_without_parts_the_reference_ratio_is_assumed_and_said(lab: estimate.LabMeasurement) -> None:
    empty = estimate.lab_measurement(state_frame([]), parts_frame([]))
    assert empty.compression_ratio == DEFAULT_COMPRESSION_RATIO and not empty.compression_measured
    assert "the reference ratio 20x is assumed" in repr(empty)


def test_the_fleet_table_is_for_the_readers_fleet_and_names_its_figures(lab: estimate.LabMeasurement) -> None:
    small = estimate.fleet_frame(estimate.your_usage(lab, 10, instances=4)).set_index("mode")
    big = estimate.fleet_frame(estimate.your_usage(lab, 10, instances=400)).set_index("mode")
    one_minute = "1-minute schedule (default)"
    # 4 instances fit the 12 requests/s budget at the default schedule, 400 do not
    assert small.loc[one_minute, "fleet fits"] == "yes" and big.loc[one_minute, "fleet fits"] == "NO"
    assert big.loc[one_minute, "RDS budget used"] > 100
    # the RPO is the period plus one copy; Aurora's 24 h cover 1,440 one-minute periods
    assert small.loc[one_minute, "worst-case RPO"] > 60
    assert small.loc[one_minute, "retention covers (scan periods)"] == pytest.approx(1440)
    # the figures behind it are the seam the fleet issue fills
    figures = estimate.FleetFigures(rds_budget_per_s=100.0, source="measured")
    bigger = estimate.fleet_frame(estimate.your_usage(lab, 10, instances=400), figures=figures)
    assert bigger.set_index("mode").loc[one_minute, "fleet fits"] == "yes"
    shown = estimate.fleet_table(estimate.your_usage(lab, 10, instances=4))
    assert "lab assumptions" in shown.title and not SCIENTIFIC.search(repr(shown))
