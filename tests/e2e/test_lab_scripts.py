"""The EC2 lab scripts (infrastructure/scripts) against the local cluster, pointed at local endpoints, so
they are known to work before anyone runs them on the test host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit.local.service import master_password
from labkit.local.state import LabState

pytestmark = pytest.mark.e2e
SCRIPTS = Path(__file__).resolve().parents[2] / "infrastructure" / "scripts"


def run_script(lab: LabState, *args: str) -> subprocess.CompletedProcess[str]:
    writer, reader = lab.role("writer"), lab.role("reader")
    env = {
        **os.environ,
        "DB_HOST": writer.host,
        "DB_PORT": str(writer.port),
        "DB_USER": "labadmin",
        "DB_PASSWORD": master_password(Path(lab.state_dir)),
        "DB_NAME": "labdb",
        "DB_READER_HOST": reader.host,
        "DB_READER_PORT": str(reader.port),
        "DB_WAIT_S": "10",
    }
    return subprocess.run(["bash", *args], env=env, capture_output=True, text=True, timeout=300)


def audit_text(lab: LabState, role: str) -> str:
    return "".join(
        p.read_text(errors="replace") for p in Path(lab.role(role).audit_dir).glob("server_audit.log*")
    )


def test_setup_and_audit_scenarios_run_against_the_local_cluster(lab: LabState) -> None:
    setup = run_script(
        lab, str(SCRIPTS / "setup_sysbench.sh"), "--skip-install", "--tables", "2", "--table-size", "1000"
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    scenarios = run_script(
        lab,
        str(SCRIPTS / "test_audit_logs.sh"),
        "-i",
        "custom",
        "--threads",
        "2",
        "--time",
        "3",
        "--table-size",
        "1000",
        "all",
    )
    assert scenarios.returncode == 0, scenarios.stdout + scenarios.stderr
    reader = run_script(
        lab,
        str(SCRIPTS / "test_audit_logs.sh"),
        "-t",
        "reader",
        "-w",
        "oltp_read_only",
        "-i",
        "custom",
        "--threads",
        "1",
        "--time",
        "2",
        "--table-size",
        "1000",
        "workload",
    )
    assert reader.returncode == 0, reader.stdout + reader.stderr
    writer_log = audit_text(lab, "writer")
    assert "FAILED_CONNECT" in writer_log and ",1045" in writer_log
    assert "CREATE USER" in writer_log.upper() and "DROP" in writer_log.upper()
    assert "sbtest" in audit_text(lab, "reader")
