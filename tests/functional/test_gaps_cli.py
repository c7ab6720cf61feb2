"""`labkit verify` and `labkit gaps` as an operator runs them: a gap fails verify until acknowledged, the
JSON summary counts gaps and lower bounds, and an unknown gap id is a clear error. The CLI runs against the
emulator over HTTP with the lab's deployed table and bucket."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage
from labkit.cli import app
from labkit.config import LabConfig, load_config
from labkit.local.control import config_env
from labkit.local.deploy import deploy_local
from tests.support.emulated import EmulatedAccount, audit_line


@pytest.fixture
def config(account: EmulatedAccount, tmp_path: Path) -> LabConfig:
    lab = load_config(
        endpoint_url=account.url,
        state_dir=tmp_path / "state",
        project=f"lab-{uuid.uuid4().hex[:8]}",
        scan_interval_s=3600.0,
    )
    deploy_local(lab)
    return lab


def run(config: LabConfig, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=config_env(config))
    return result.exit_code, result.stdout


def test_a_gap_fails_verify_until_it_is_acknowledged(
    account: EmulatedAccount, config: LabConfig, tmp_path: Path
) -> None:
    # GIVEN a file still being written, seen once, then gone before the next look
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(40)))
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    message = InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", "aurora")
    detect(account.rds, table, message, seal_after_s=3600, ttl_days=30)
    (directory / "server_audit.log").unlink()
    detect(account.rds, table, message, seal_after_s=3600, ttl_days=30)
    out = str(tmp_path / "out")
    # WHEN verify runs THEN it fails, even accepting LOST files, and its summary counts the gap
    code, stdout = run(config, tmp_path, "verify", "--json", "--accept-lost", "--out", out)
    summary = json.loads(stdout)
    assert code == 1 and not summary["clean"]
    assert (summary["gaps"], summary["unacknowledged_gaps"], summary["lost_lower_bounds"]) == (1, 1, 1)
    # AND labkit gaps lists it; an unknown id is refused with what to do
    code, listing = run(config, tmp_path, "gaps")
    assert code == 0 and "db-1/" in listing and "at least" in listing
    code, listed = run(config, tmp_path, "gaps", "--json")
    (gap,) = json.loads(listed)
    gap_id = gap["id"]
    code, refused = run(config, tmp_path, "gaps", "--ack", "db-1/nope")
    assert code == 2 and "labkit gaps" in refused
    # WHEN it is acknowledged THEN verify passes with the LOST file accepted, and is still not "clean"
    code, said = run(config, tmp_path, "gaps", "--ack", gap_id, "--by", "ops", "--note", "burst at 10:00")
    assert code == 0 and "1 gap(s) acknowledged by ops" in said
    code, stdout = run(config, tmp_path, "verify", "--json", "--accept-lost", "--out", out)
    summary = json.loads(stdout)
    assert code == 0 and (summary["gaps"], summary["unacknowledged_gaps"], summary["clean"]) == (1, 0, False)
