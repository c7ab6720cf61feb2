"""The cost view's scan modes: invocations and RDS API calls per instance and month, counted by hand here
from how the pipeline works (one scan per interval, one listing per look, one copy per grown file)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.config import LabConfig
from labkit.dashboard.cost import (
    DAYS_PER_MONTH,
    SCAN_MODES,
    PipelineShape,
    ScanMode,
    scan_modes,
)

MONTH_S = DAYS_PER_MONTH * 86400  # 730 hours
SMALL = 1024 * 1024  # 1 MB a day: every copy fits in one DownloadDBLogFilePortion page


def test_each_modes_invocations_and_rds_calls_per_instance_and_month() -> None:
    # GIVEN one instance writing 4 active files, and the three modes with the config's defaults
    frame = scan_modes(SMALL, PipelineShape(instances=1, active_files=4)).set_index("mode")
    five, one, tail = (frame.loc[m.name] for m in SCAN_MODES)
    scans_5, scans_1 = MONTH_S / 300, MONTH_S / 60  # 8,760 and 43,800
    # THEN 5 minutes: per scan 1 scanner + 1 detector + 4 downloader invocations; RDS: the scanner's
    # DescribeDBInstances, one DescribeDBLogFiles, one portion call per copy
    assert five["lambda_invocations"] == pytest.approx(scans_5 * 6)
    assert five["rds_api_calls"] == pytest.approx(scans_5 * 6)
    assert five["detector_invocations"] == pytest.approx(8_760)
    # ... 1 minute: five times that
    assert one["lambda_invocations"] == pytest.approx(scans_1 * 6) == pytest.approx(262_800)
    assert one["rds_api_calls"] == pytest.approx(262_800)
    assert one["rds_calls_per_s"] == pytest.approx(0.1)
    assert one["instances_within_rds_budget"] == 100  # the pipeline's 10 requests/s / 0.1
    # ... tailing: the same detector invocations, but 11 more looks per scan (every 5 s of a 60 s period,
    # less the 5 s margin), each with its listing and 4 copies
    looks = scans_1 * 12
    assert tail["detector_invocations"] == pytest.approx(scans_1)
    assert tail["lambda_invocations"] == pytest.approx(scans_1 * 2 + looks * 4)
    assert tail["rds_api_calls"] == pytest.approx(scans_1 + looks * 5) == pytest.approx(2_671_800)
    assert tail["instances_within_rds_budget"] == 9  # 10 / 1.02
    assert tail["looks_every_s"] == LabConfig.tail_poll_s
    # ... and the cost follows: tailing costs most, the 5-minute schedule least
    assert five["usd_per_month"] < one["usd_per_month"] < tail["usd_per_month"]


def test_a_tail_looks_every_poll_within_the_period_less_the_margin() -> None:
    assert ScanMode("x", 60.0).tail_rounds == 0
    assert ScanMode("x", 60.0, tailing=True).tail_rounds == 11  # 5, 10, ... 55 s
    assert ScanMode("x", 60.0, tailing=True, tail_poll_s=2.0, tail_margin_s=3.0).tail_rounds == 28
    assert ScanMode("x", 3600.0, tailing=True).tail_rounds == (900 - 5) // 5  # Lambda's 900 s at most


def test_big_copies_take_a_portion_call_per_megabyte() -> None:
    # GIVEN 1 GiB a day on one instance, one file, a scan a day: each copy is a whole day
    mode = ScanMode("daily", 86400.0)
    row = scan_modes(1024**3, PipelineShape(instances=1, active_files=1), modes=(mode,)).iloc[0]
    # THEN a copy pages 1024 MB a day: 1024 calls, plus the listing and the scanner's call
    assert row["rds_api_calls"] == pytest.approx(DAYS_PER_MONTH * (1024 + 2))


@settings(max_examples=30, deadline=None)
@given(
    volume=st.floats(0, 1e12),
    instances=st.integers(1, 500),
    interval=st.sampled_from([60.0, 120.0, 300.0, 900.0]),
    poll=st.floats(1, 30),
)
def test_tailing_never_costs_fewer_calls_or_invocations(
    volume: float, instances: int, interval: float, poll: float
) -> None:
    modes = (ScanMode("plain", interval), ScanMode("tail", interval, tailing=True, tail_poll_s=poll))
    plain, tail = scan_modes(volume, PipelineShape(instances=instances), modes=modes).to_dict("records")
    assert tail["rds_api_calls"] >= plain["rds_api_calls"]
    assert tail["lambda_invocations"] >= plain["lambda_invocations"]
    assert tail["instances_within_rds_budget"] <= plain["instances_within_rds_budget"]
    assert tail["detector_invocations"] == plain["detector_invocations"]
