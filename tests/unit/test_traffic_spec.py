"""Traffic parameters are refused before anything starts; sysbench is called and read correctly.

The sysbench outputs under data/ were captured from sysbench 1.0.20 against the local lab's writer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labkit.errors import MissingBinaryError, TrafficError
from labkit.traffic import PRESETS, WORKLOADS, Intensity, TrafficSpec
from labkit.traffic.lab import DatabaseLogin
from labkit.traffic.spec import check_scenario
from labkit.traffic.sysbench import (
    _secret_fd,
    find_sysbench,
    parse_report,
    parse_tick,
    password_options,
    sysbench_command,
)

DATA = Path(__file__).parent / "data"
SECRET = "s3cret-Pw_from-the-state-dir"
LOGIN = DatabaseLogin("lab-writer", "writer", "127.0.0.1", 40001, "labadmin", "labdb", SECRET)


# --- validation -------------------------------------------------------------------------------------------


def test_presets_are_small_enough_for_a_laptop() -> None:
    assert TrafficSpec(intensity="low").resolved == Intensity(
        threads=1, tables=2, table_size=1000, duration_s=10
    )
    assert TrafficSpec(intensity="medium").resolved == Intensity(2, 4, 10_000, 30)
    assert TrafficSpec(intensity="high").resolved == Intensity(4, 8, 10_000, 60)
    assert set(PRESETS) == {"low", "medium", "high"}


def test_explicit_values_override_a_preset() -> None:
    spec = TrafficSpec(intensity="medium", duration_s=3, threads=1)
    assert spec.resolved == Intensity(threads=1, tables=4, table_size=10_000, duration_s=3)


def test_custom_needs_every_value_and_names_the_missing_flags() -> None:
    with pytest.raises(TrafficError, match=r"--tables, --table-size, --duration"):
        TrafficSpec(intensity="custom", threads=2)
    spec = TrafficSpec(intensity="custom", threads=3, tables=5, table_size=500, duration_s=7)
    assert spec.resolved == Intensity(3, 5, 500, 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workload": "oltp_bogus"}, "workload 'oltp_bogus' is not valid: choose one of oltp_read_write"),
        ({"intensity": "extreme"}, "choose one of low, medium, high, custom"),
        ({"target": "primary"}, "choose one of writer, reader"),
        ({"threads": 0}, "threads must be between 1 and 256"),
        ({"tables": 5000}, "tables must be between 1 and 1000"),
        ({"duration_s": -1}, "duration_s must be between"),
        ({"table_size": "10"}, "table_size must be a whole number"),
        ({"threads": True}, "threads must be a whole number"),
        ({"rate": -5}, "rate .* must be between 0 and"),
    ],
)
def test_invalid_values_say_what_is_wrong_and_what_is_allowed(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TrafficError, match=message):
        TrafficSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("workload", [w for w in WORKLOADS if w != "oltp_read_only"])
def test_the_reader_refuses_every_writing_workload(workload: str) -> None:
    with pytest.raises(TrafficError, match="reader is read-only and replicates from the writer"):
        TrafficSpec(workload=workload, target="reader")


def test_the_reader_takes_the_read_only_workload() -> None:
    spec = TrafficSpec(workload="oltp_read_only", target="reader")
    assert not spec.writes


def test_scenarios_that_write_are_refused_on_the_reader() -> None:
    assert check_scenario("all", "writer") == ("adhoc", "ddl", "users", "failed-logins")
    assert check_scenario("failed-logins", "reader") == ("failed-logins",)
    with pytest.raises(TrafficError, match=r"ddl, users.*use --target writer"):
        check_scenario("all", "reader")
    with pytest.raises(TrafficError, match="choose one of adhoc, ddl, users, failed-logins, all"):
        check_scenario("chaos", "writer")


# --- the sysbench command line ----------------------------------------------------------------------------


def test_run_command_targets_the_instance_and_keeps_the_password_off_the_command_line() -> None:
    spec = TrafficSpec("oltp_update_index", "medium", duration_s=5, rate=200)
    argv = sysbench_command("/usr/bin/sysbench", spec, "run", LOGIN, "/dev/fd/7")
    assert argv[:2] == ["/usr/bin/sysbench", "oltp_update_index"]
    assert argv[-1] == "run"
    for option in (
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        "--mysql-port=40001",
        "--mysql-user=labadmin",
        "--mysql-db=labdb",
        "--config-file=/dev/fd/7",
        "--threads=2",
        "--tables=4",
        "--table-size=10000",
        "--time=5",
        "--rate=200",
        "--report-interval=1",
    ):
        assert option in argv
    assert not any(SECRET in arg or arg.startswith("--mysql-password") for arg in argv)


def test_prepare_and_cleanup_have_no_run_options() -> None:
    for command in ("prepare", "cleanup"):
        argv = sysbench_command("sysbench", TrafficSpec(), command, LOGIN, "/dev/fd/3")
        assert argv[-1] == command
        assert not any(a.startswith(("--time", "--rate", "--report-interval")) for a in argv)
    with pytest.raises(TrafficError, match="choose one of prepare, run, cleanup"):
        sysbench_command("sysbench", TrafficSpec(), "warmup", LOGIN, "/dev/fd/3")


def test_the_password_reaches_the_child_through_a_pipe_only() -> None:
    assert password_options(SECRET) == f"mysql-password={SECRET}\n".encode()
    with _secret_fd(password_options(SECRET)) as fd:
        seen = subprocess.run(["cat", f"/dev/fd/{fd}"], pass_fds=(fd,), capture_output=True, check=True)
    assert seen.stdout == f"mysql-password={SECRET}\n".encode()
    with pytest.raises(TrafficError, match="line break"):
        password_options("two\nlines")


def test_missing_sysbench_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinaryError, match=r"apt-get install -y sysbench") as info:
        find_sysbench()
    assert info.value.binary == "sysbench"


# --- reading sysbench's output ----------------------------------------------------------------------------


def test_final_report_is_parsed_from_a_real_run() -> None:
    report = parse_report((DATA / "sysbench-1.0.20-oltp_read_write-run.txt").read_text())
    assert report.transactions == 1833
    assert report.transactions_per_s == pytest.approx(610.22)
    assert report.queries == 36660
    assert report.queries_per_s == pytest.approx(12204.31)
    assert report.total_time_s == pytest.approx(3.0031)


def test_progress_lines_become_ticks_and_rate_limited_queue_lines_are_skipped() -> None:
    lines = (DATA / "sysbench-1.0.20-oltp_read_write-run-rate.txt").read_text().splitlines()
    ticks = [t for t in map(parse_tick, lines) if t]
    assert [t.elapsed_s for t in ticks] == [1, 2, 3]
    assert ticks[0].threads == 1
    assert ticks[0].tps == pytest.approx(18.97)
    assert ticks[0].qps == pytest.approx(379.38)
    assert ticks[0].errors_per_s == 0.0
    assert parse_report("\n".join(lines)).transactions_per_s == pytest.approx(22.38)


def test_output_without_statistics_is_an_error_with_the_tail() -> None:
    output = (DATA / "sysbench-1.0.20-access-denied.txt").read_text()
    with pytest.raises(TrafficError, match="Access denied for user 'labadmin'"):
        parse_report(output)


def test_samples_are_real_sysbench_output() -> None:
    for sample in DATA.glob("sysbench-1.0.20-*.txt"):
        assert sample.read_text().startswith("sysbench 1.0.20"), sample
    assert os.path.getsize(DATA / "sysbench-1.0.20-oltp_read_write-run.txt") > 0
