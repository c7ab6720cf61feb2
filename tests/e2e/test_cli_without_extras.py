"""``labkit status`` and ``labkit scan`` against the running local lab, from an interpreter without
pandas, duckdb or pulumi (a ``[lab]`` install): they report the backup and scan, and need none of them."""

from __future__ import annotations

import json

import pytest

from labkit.config import LabConfig
from labkit.local import control
from labkit.local.state import LabState
from tests.support.extras import run_blocked

pytestmark = pytest.mark.e2e


def test_status_and_scan_run_against_the_lab_without_the_extras(lab: LabState, lab_config: LabConfig) -> None:
    env = control.config_env(lab_config)
    scan = run_blocked(["scan", "--target", "local", "--wait", "--json"], env)
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout)["target"] == "local"
    status = run_blocked(["status", "--target", "local", "--json"], env)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["deployed"] is True and info["backup"]["files"] > 0, info
    assert {row["instance_id"] for row in info["history"]} == {i.id for i in lab.instances}
