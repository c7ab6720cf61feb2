"""Traffic against a real local lab: what a user sees in the summary and in the audit files.

The lab gets a 1 MB rotate size and enough rotations that nothing is deleted, and the test forces one
rotation as soon as the traffic shows in the writer's log, so the meter counts across at least one
rotation however fast this machine is: the counted bytes must then equal the growth of the files on disk
exactly, and every rotated file must hold whole audit lines. No assertion depends on throughput.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import traffic
from labkit.config import LabConfig, load_config
from labkit.errors import TrafficError
from labkit.local import control
from labkit.local.service import master_password
from labkit.local.state import LabState
from labkit.traffic.lab import LabTarget

pytestmark = pytest.mark.e2e

SPEC = traffic.TrafficSpec("oltp_read_write", intensity="low", duration_s=3)


@pytest.fixture(scope="module")
def traffic_config(tmp_path_factory: pytest.TempPathFactory) -> LabConfig:
    return load_config(
        env={},
        state_dir=tmp_path_factory.mktemp("traffic-lab"),
        emulator_port=0,  # any free port
        db_port=0,
        audit_rotate_size=1024 * 1024,
        audit_rotations=200,
    )


@pytest.fixture(scope="module")
def traffic_lab(traffic_config: LabConfig) -> Iterator[LabState]:
    try:
        state, _ = control.up(traffic_config)
        yield state
    finally:
        control.down(traffic_config)


@pytest.fixture(scope="module")
def prepared(traffic_lab: LabState, traffic_config: LabConfig) -> traffic.TrafficSummary:
    return traffic.prepare(SPEC, traffic_config)


AUDIT_LINE = re.compile(rb"\d{8} \d\d:\d\d:\d\d,[^,\n]*,[^,\n]*,[^,\n]*,\d+,\d+,[A-Z_]+,")


def audit_files(state: LabState, role: str) -> list[Path]:
    return sorted(Path(state.role(role).audit_dir).glob("server_audit.log*"))


def disk(state: LabState, role: str) -> tuple[int, int]:
    """(bytes, lines) in all of an instance's audit files right now."""
    data = b"".join(p.read_bytes() for p in audit_files(state, role))
    return len(data), data.count(b"\n")


def audit_text(state: LabState, role: str) -> str:
    return "".join(p.read_text(errors="replace") for p in audit_files(state, role))


def labkit_cli(config: LabConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABKIT_STATE_DIR": str(config.state_dir), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_prepare_creates_the_tables_on_the_writer(prepared: traffic.TrafficSummary) -> None:
    assert prepared.target == "writer"
    assert prepared.audit_for("writer").lines > 0
    assert prepared.transactions_per_s is None


class RotateOnceTrafficShows(threading.Thread):
    """Rotates the writer's audit log once its size moved (the run began), or once the run is over."""

    def __init__(self, state: LabState, config: LabConfig) -> None:
        super().__init__(daemon=True)
        self.state, self.config = state, config
        self.started_at = disk(state, "writer")[0]
        self.run_over = threading.Event()

    def run(self) -> None:
        while disk(self.state, "writer")[0] == self.started_at and not self.run_over.wait(0.05):
            pass
        connection = LabTarget.resolve(self.config).login("writer").connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET GLOBAL server_audit_file_rotate_now = ON")
        finally:
            connection.close()


def rotated(state: LabState, role: str) -> list[Path]:
    return [p for p in audit_files(state, role) if p.name != "server_audit.log"]


def test_sysbench_on_the_writer_reports_throughput_and_every_audit_byte(
    traffic_lab: LabState, traffic_config: LabConfig, prepared: traffic.TrafficSummary
) -> None:
    before = disk(traffic_lab, "writer")
    rotated_before = len(rotated(traffic_lab, "writer"))
    ticks: list[traffic.ProgressTick] = []
    rotation = RotateOnceTrafficShows(traffic_lab, traffic_config)
    rotation.start()

    try:
        summary = traffic.run(SPEC, traffic_config, on_progress=ticks.append)
    finally:
        rotation.run_over.set()
        rotation.join()

    after = disk(traffic_lab, "writer")
    writer = summary.audit_for("writer")
    assert summary.transactions_per_s and summary.transactions_per_s > 0
    assert summary.queries_per_s and summary.queries_per_s > summary.transactions_per_s
    assert summary.duration_s > 2.5  # it ran for its --time, not a timing target
    elapsed = [t.elapsed_s for t in ticks]  # one progress tick a second (a loaded machine may miss some)
    assert elapsed == list(range(1, len(elapsed) + 1))
    assert writer.bytes == after[0] - before[0] > 0  # across the rotations, nothing missed or doubled
    assert writer.lines == after[1] - before[1]
    # at least one rotation (the forced one; more when this machine is fast), and every rotated file intact
    files = rotated(traffic_lab, "writer")
    assert len(files) > rotated_before, "the writer's audit log did not rotate"
    for path in files:
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends inside a line"
        broken = [line for line in data.splitlines() if not AUDIT_LINE.match(line)]
        assert broken == [], f"{path.name}: {broken[:2]}"


def test_read_only_run_on_the_reader_lands_on_the_reader(
    traffic_lab: LabState, traffic_config: LabConfig, prepared: traffic.TrafficSummary
) -> None:
    spec = traffic.TrafficSpec("oltp_read_only", intensity="low", duration_s=2, target="reader")

    summary = traffic.run(spec, traffic_config)

    assert summary.target == "reader"
    assert summary.transactions_per_s and summary.transactions_per_s > 0
    # sysbench's reads are in the reader's log (how many depends on this machine's speed, so not counted)
    assert summary.audit_for("reader").lines > 0
    assert "SELECT c FROM sbtest" in audit_text(traffic_lab, "reader")
    assert summary.audit_for("writer").lines == 0  # reads are not replicated anywhere


def test_the_password_is_not_visible_in_ps_or_the_environment(
    traffic_lab: LabState, traffic_config: LabConfig, prepared: traffic.TrafficSummary
) -> None:
    password = master_password(Path(traffic_config.state_dir)).encode()
    port = f"--mysql-port={traffic_lab.role('writer').port}".encode()
    spec = traffic.TrafficSpec("oltp_read_only", intensity="low", duration_s=2)
    runner = threading.Thread(target=traffic.run, args=(spec, traffic_config))
    runner.start()
    seen: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"sysbench" in cmdline and port in cmdline:
                    seen.append((cmdline, Path(f"/proc/{pid}/environ").read_bytes()))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        time.sleep(0.05)
    runner.join()
    assert seen, "sysbench was never seen running"
    cmdline, environ = seen[0]
    assert b"--config-file=/dev/fd/" in cmdline
    assert password not in cmdline
    assert password not in environ


def test_a_run_on_missing_tables_says_to_prepare(
    traffic_config: LabConfig, prepared: traffic.TrafficSummary
) -> None:
    spec = traffic.TrafficSpec("oltp_read_only", intensity="low", tables=9, duration_s=1)
    with pytest.raises(TrafficError, match=r"(?s)sbtest\d.*doesn't exist.*labkit traffic prepare"):
        traffic.run(spec, traffic_config)


def test_ddl_scenario_writes_create_alter_rename_drop_to_the_writer_audit(
    traffic_lab: LabState, traffic_config: LabConfig
) -> None:
    drops_before = audit_text(traffic_lab, "writer").count("DROP TABLE `labkit_ddl_")

    [summary] = traffic.run_scenarios("ddl", traffic_config)

    text = audit_text(traffic_lab, "writer")
    assert summary.audit_for("writer").lines >= summary.statements == 7
    assert text.count("DROP TABLE `labkit_ddl_") == drops_before + 1
    for statement in ("CREATE TABLE `labkit_ddl_", "ALTER TABLE `labkit_ddl_", "RENAME TABLE `labkit_ddl_"):
        assert statement in text


def test_users_scenario_audits_account_changes_without_the_password(
    traffic_lab: LabState, traffic_config: LabConfig
) -> None:
    [summary] = traffic.run_scenarios("users", traffic_config)

    text = audit_text(traffic_lab, "writer")
    created = [line for line in text.splitlines() if "CREATE USER \\'labkit_user_" in line]
    assert created and all("IDENTIFIED BY *****" in line for line in created)  # masked by server_audit
    user = created[-1].split("\\'")[1]
    for statement in ("GRANT SELECT", "REVOKE SELECT", "DROP USER IF EXISTS"):
        assert any(statement in line and user in line for line in text.splitlines()), statement
    assert any(f",{user},127.0.0.1," in line and ",CONNECT," in line for line in text.splitlines())
    assert summary.audit_for("writer").lines > 0


def test_failed_logins_leave_failed_connect_lines(traffic_lab: LabState, traffic_config: LabConfig) -> None:
    def failed() -> list[str]:
        return [line for line in audit_text(traffic_lab, "writer").splitlines() if ",FAILED_CONNECT," in line]

    before = len(failed())

    [summary] = traffic.run_scenarios("failed-logins", traffic_config)

    new = failed()[before:]
    assert len(new) == summary.statements == 5
    assert all(line.endswith(",1045") for line in new)  # access denied
    assert summary.audit_for("writer").lines >= 5


def test_adhoc_on_the_reader_logs_a_failing_query_with_its_error(
    traffic_lab: LabState, traffic_config: LabConfig
) -> None:
    [summary] = traffic.run_scenarios("adhoc", traffic_config, target="reader")

    assert summary.audit_for("reader").lines > 0
    assert summary.audit_for("writer").lines == 0
    assert "'SELECT * FROM labkit_no_such_table',1146" in audit_text(traffic_lab, "reader")


def test_all_scenarios_in_one_call(traffic_config: LabConfig, traffic_lab: LabState) -> None:
    summaries = traffic.run_scenarios("all", traffic_config)
    assert [s.action for s in summaries] == [f"scenario:{n}" for n in traffic.SCENARIOS]
    assert all(s.audit_for("writer").bytes > 0 for s in summaries)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--workload", "oltp_delete", "--target", "reader"), "reader is read-only"),
        (("run", "--workload", "oltp_nope"), "choose one of oltp_read_write"),
        (("run", "--intensity", "custom", "--threads", "2"), "needs explicit --tables"),
        (("run", "--rate", "-1"), "rate"),
        (("scenario", "ddl", "--target", "reader"), "use --target writer"),
        (("scenario", "everything"), "choose one of adhoc"),
    ],
)
def test_invalid_parameters_are_refused_before_anything_starts(
    traffic_lab: LabState, traffic_config: LabConfig, args: tuple[str, ...], message: str
) -> None:
    LabTarget.resolve(
        traffic_config
    ).wait_for_reader()  # earlier writes still replicating would grow the reader's log
    before = {role: disk(traffic_lab, role) for role in ("writer", "reader")}

    result = labkit_cli(traffic_config, "traffic", *args)

    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    after = {role: disk(traffic_lab, role) for role in ("writer", "reader")}
    assert after == before, "not one connection may be made for refused parameters"


def test_cli_run_prints_the_summary_table(
    traffic_config: LabConfig, prepared: traffic.TrafficSummary
) -> None:
    result = labkit_cli(traffic_config, "traffic", "run", "--duration", "1", "--rate", "50")
    assert result.returncode == 0, result.stderr
    for text in ("traffic summary", "run oltp_read_write", "writer*", "reader", "audit lines", "audit bytes"):
        assert text in result.stdout
