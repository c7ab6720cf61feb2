"""RPO settings in the lab stack, under Pulumi mocks: a scan every minute by default, and in tailing mode a
detector timeout that covers a scan period with a queue visibility timeout the tail cannot outlast."""

from __future__ import annotations

import pytest
from pulumi_harness import LAB_DIR, LAB_PROJECT, ProgramRun, _run, ecr_outputs, lab_config

from labkit.config import load_config


def test_the_default_schedule_scans_every_minute(lab_run: ProgramRun) -> None:
    # GIVEN the stack with no LABKIT_* setting  THEN the scanner's rule fires every minute
    rule = lab_run.one("aws:cloudwatch/eventRule:EventRule", "scan-schedule")
    assert rule["scheduleExpression"] == "rate(1 minute)"
    # ... and the detector (not tailing) keeps its own timeout, its queue 6 x that
    detector = lab_run.one("aws:lambda/function:Function", "detector")
    assert detector["environment"]["variables"]["LABKIT_DETECTOR_TAILING"] == "False"
    assert detector["timeout"] == 60
    assert lab_run.one("aws:sqs/queue:Queue", "instances")["visibilityTimeoutSeconds"] == 360


@pytest.mark.parametrize(
    ("schedule", "period", "timeout"),
    [("rate(1 minute)", 60, 60), ("rate(5 minutes)", 300, 300), ("rate(1 hour)", 3600, 900)],
)
def test_a_tailing_detector_is_sized_for_the_scan_period(
    monkeypatch: pytest.MonkeyPatch, schedule: str, period: int, timeout: int
) -> None:
    # GIVEN tailing on, with a schedule of one minute, five minutes, an hour
    monkeypatch.setenv("LABKIT_DETECTOR_TAILING", "true")
    monkeypatch.setenv("LABKIT_SCAN_SCHEDULE", schedule)
    run = _run(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs())
    detector = run.one("aws:lambda/function:Function", "detector")
    queue = run.one("aws:sqs/queue:Queue", "instances")
    # THEN the detector may run a whole period (Lambda's 900 s at most), and a message it holds while
    # tailing cannot become visible again before it is done (AWS's rule: 6 x the function's timeout)
    assert detector["timeout"] == timeout
    assert queue["visibilityTimeoutSeconds"] == 6 * timeout
    # ... and the detector inside Lambda reads the same mode and period it was sized for
    inside = load_config(env=detector["environment"]["variables"])
    assert inside.detector_tailing is True
    assert inside.scan_period_s == period
    assert inside.detector_function_timeout_s == timeout
    assert min(inside.scan_period_s, timeout) - inside.tail_margin_s < queue["visibilityTimeoutSeconds"]
