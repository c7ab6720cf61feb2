"""``labkit lab`` (what ``make lab`` runs) speaks to people and to machines: each step prints a line or a
short table, never a JSON dump; with ``--json`` stdout is summary.json alone and the steps go to stderr.

A lab of its own (its own state directory): the command brings it up and down itself, as ``make lab`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labkit.cli import app
from labkit.local.control import config_env
from labkit.local.state import read_state
from tests.support.local_lab import lab_settings

pytestmark = pytest.mark.e2e


def test_lab_prints_tables_for_people_and_json_for_machines(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = lab_settings(tmp_path_factory.mktemp("cli-lab"))  # short: mariadbd's socket path must fit
    out = tmp_path / "out"
    # WHEN the whole lab runs for a few seconds of traffic, for a script
    result = CliRunner().invoke(
        app, ["lab", "--duration", "3", "--out", str(out), "--json"], env=config_env(config)
    )
    # THEN stdout is exactly summary.json, and it is clean
    assert result.exit_code == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["missing_files"] == summary["duplicated_files"] == summary["lost_files"] == 0
    # AND the steps went to stderr as tables: the runtime's counters per function, the reconciliation
    steps = result.stderr
    assert "invocations" in steps and "downloader" in steps and "records read" in steps
    assert "clean: every audit byte in S3, exactly once" in steps and "LOST files" in steps
    assert '{"' not in steps and "{'" not in steps  # no dict or JSON dump for a person
    # AND the lab it started is down again
    assert read_state(config) is None
