"""The detector judges each listing's kept history (labkit.backup.sizing) through the emulator's real
DescribeDBLogFiles: rotated files on disk with chosen mtimes stand for an instance rotating fast or slowly,
so nothing here depends on how fast this machine writes. The verdict reaches the detector's metric and the
local history-cover alarm."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from labkit.alarms import ALARM, OK, LocalReadings, alarm_rules, evaluate
from labkit.backup import metrics as m
from labkit.backup import table as t
from labkit.backup.detector import DetectOutcome, detect
from labkit.backup.scanner import InstanceMessage
from labkit.backup.sizing import AT_RISK, HistoryPolicy
from labkit.backup.sizing import OK as SIZING_OK
from labkit.config import load_config
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import Pipeline

NOW = 2_000_000_000.0  # a fixed "now" for the files' mtimes and the detector: nothing reads the clock
# the local lab's policy with a small rotate size: 4,096 bytes x 2 files kept, one scan every 10 s
LAB = load_config(env={}, target="local", audit_rotate_size=4096, audit_rotations=2, scan_interval_s=10.0)
POLICY = HistoryPolicy.for_lab(LAB)


def rotated_files(directory: Path, seconds_apart: float) -> None:
    """server_audit.log.2, .1 and the active file, 4 kB each, rotated ``seconds_apart`` apart up to NOW."""
    for age, name in ((2, "server_audit.log.2"), (1, "server_audit.log.1"), (0, "server_audit.log")):
        path = directory / name
        path.write_bytes(b"".join(audit_line(100 * age + i) for i in range(60))[:4096])  # each its own head
        stamp = int((NOW - age * seconds_apart) * 1e9)
        os.utime(path, ns=(stamp, stamp))


def scan(pipeline: Pipeline, instance_id: str) -> DetectOutcome:
    return detect(
        pipeline.account.rds,
        pipeline.table,
        InstanceMessage(instance_id, "", "mysql", "rds-mysql"),
        seal_after_s=0.0,
        ttl_days=30,
        now=NOW,
        credentials=pipeline.account.session.get_credentials(),
        history=POLICY,
    )


def test_a_fast_rotating_instance_is_at_risk_and_a_slow_one_is_not(
    account: EmulatedAccount, pipeline: Pipeline
) -> None:
    # GIVEN two instances keeping 2 x 4 kB: one rotating every second, one every ten minutes
    rotated_files(account.add_instance("db-fast", scheme="rds-mysql", engine="mysql"), seconds_apart=1.0)
    rotated_files(account.add_instance("db-slow", scheme="rds-mysql", engine="mysql"), seconds_apart=600.0)
    # WHEN the detector scans each
    fast, slow = scan(pipeline, "db-fast"), scan(pipeline, "db-slow")
    # THEN the fast one keeps 2 s of history, a fifth of one 10-s scan, and is told what to set
    assert fast.history is not None and slow.history is not None
    assert fast.new == 3 and fast.history.verdict == AT_RISK
    assert fast.history.rate_bps == pytest.approx(4096)  # 8 kB written in the 2 s after .2's last write
    assert fast.history.covered_scans == pytest.approx(0.2)
    assert (fast.history.suggested_rotate_size, fast.history.suggested_rotations) == (1_000_000, 2)
    assert "LABKIT_AUDIT_ROTATE_SIZE=1000000" in fast.history.change
    # AND the slow one keeps 1,200 s: 120 scans
    assert slow.history.verdict == SIZING_OK and slow.history.covered_scans == pytest.approx(120)
    assert slow.history.change == ""
    # AND the local alarm, reading the table the detector wrote, fires for the fast one alone
    items = t.all_items(pipeline.table)
    rule = [r for r in alarm_rules(LAB) if r.key == "history-cover"]
    at = LocalReadings(now=NOW, items=items, queue_messages={}, runtime=None, history_policy=POLICY)
    (result,) = evaluate(rule, at)
    assert result.state == ALARM and result.reason.startswith("db-fast:")
    slow_only = [i for i in items if i["pk"] == "db-slow"]
    (calm,) = evaluate(rule, LocalReadings(NOW, slow_only, {}, None, history_policy=POLICY))
    assert calm.state == OK and calm.value == pytest.approx(120)


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_the_detector_publishes_the_cover_it_measured_and_nothing_when_it_could_not(
    account: EmulatedAccount, pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.handlers import detector as handler
    from labkit.handlers.invocation import publish

    rotated_files(account.add_instance("db-fast", scheme="rds-mysql", engine="mysql"), seconds_apart=1.0)
    active_only = account.add_instance("db-new", scheme="rds-mysql", engine="mysql")
    (active_only / "server_audit.log").write_bytes(audit_line(1))
    outcomes = [scan(pipeline, "db-fast"), scan(pipeline, "db-new")]
    assert outcomes[1].history is not None and outcomes[1].history.covered_scans is None  # unknown
    capsys.readouterr()
    publish(handler.metrics, handler._count(outcomes))  # what the handler does at an invocation's end
    values = [blob[m.HISTORY_COVER_SCANS] for blob in emitted(capsys) if m.HISTORY_COVER_SCANS in blob]
    assert values == [pytest.approx(0.2)] or values == [[pytest.approx(0.2)]]
