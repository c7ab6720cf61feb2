"""A ``[lab]`` install has no pandas, duckdb or pulumi: the CLI and labkit.ops must import, and the
commands that operate the lab must run, without them (issue 16). A child interpreter refuses those
packages (and the notebook parts of labkit), then runs ``python -m labkit.cli`` with the given arguments.
The local lab is not running here; tests/e2e/test_cli_without_extras.py runs the same against a live lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.extras import cli_script, run_blocked


def test_deploy_help_runs_without_pandas_duckdb_or_pulumi() -> None:
    done = run_blocked(["deploy", "--help"])
    assert done.returncode == 0, done.stderr
    assert "--target" in done.stdout


def test_status_and_scan_of_a_stopped_local_lab_say_what_to_do_without_the_extras(tmp_path: Path) -> None:
    env = {"LABKIT_STATE_DIR": str(tmp_path)}
    status = run_blocked(["status", "--target", "local"], env)
    assert "is not installed" not in status.stderr, status.stderr
    assert "labkit deploy --target local" in status.stdout + status.stderr
    scan = run_blocked(["scan", "--target", "local"], env)
    assert "is not installed" not in scan.stderr, scan.stderr
    assert "labkit local up" in " ".join((scan.stdout + scan.stderr).split())


def test_the_probe_does_refuse_pandas() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            cli_script([]).replace("import labkit.ops", "import pandas"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "pandas is not installed (blocked by the test)" in done.stderr


@pytest.mark.parametrize(
    ("args", "module", "extra"),
    [
        (["query", "SELECT count(*) FROM audit_events", "--target", "local"], "pandas", "notebooks"),
        (["verify", "--target", "local"], "matplotlib", "lab"),
    ],
)
def test_a_command_that_needs_a_missing_extra_names_the_extra_to_install(
    args: list[str], module: str, extra: str, tmp_path: Path
) -> None:
    done = run_blocked(args, {"LABKIT_STATE_DIR": str(tmp_path)})
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert f"error: {module} is not installed" in said, done.stderr
    assert f"pip install 'labkit[{extra}]'" in said, done.stderr
    assert "Traceback" not in done.stderr
