"""sysbench prepare / run / cleanup against one instance of the local lab.

The password reaches sysbench through ``--config-file=/dev/fd/N``, a pipe only sysbench can read, so it
is visible neither in ``ps`` (command line) nor in ``/proc/<pid>/environ``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from labkit.config import LabConfig
from labkit.errors import MissingBinaryError, TrafficError
from labkit.traffic.audit import InstanceAudit
from labkit.traffic.lab import DatabaseLogin, LabTarget
from labkit.traffic.spec import TrafficSpec
from labkit.traffic.summary import TrafficSummary

COMMANDS = ("prepare", "run", "cleanup")
GRACE_S = 120.0  # beyond the run's duration before a hung sysbench is killed
_TAIL_LINES = 20

_TICK = re.compile(
    r"^\[\s*(?P<elapsed>\d+)s\s*\]\s+thds:\s*(?P<threads>\d+)\s+tps:\s*(?P<tps>[\d.]+)\s+"
    r"qps:\s*(?P<qps>[\d.]+).*?err/s:\s*(?P<errors>[\d.]+)"
)
_TRANSACTIONS = re.compile(r"^\s*transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.M)
_QUERIES = re.compile(r"^\s*queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.M)
_TOTAL_TIME = re.compile(r"^\s*total time:\s+([\d.]+)s", re.M)


@dataclass(frozen=True)
class ProgressTick:
    """One ``--report-interval=1`` line: where a run is and how fast it goes right now."""

    elapsed_s: int
    threads: int
    tps: float
    qps: float
    errors_per_s: float


@dataclass(frozen=True)
class RunReport:
    """sysbench's final statistics."""

    transactions: int
    transactions_per_s: float
    queries: int
    queries_per_s: float
    total_time_s: float


ProgressCallback = Callable[[ProgressTick], None]


def parse_tick(line: str) -> ProgressTick | None:
    match = _TICK.match(line.strip())
    if not match:
        return None
    return ProgressTick(
        elapsed_s=int(match["elapsed"]),
        threads=int(match["threads"]),
        tps=float(match["tps"]),
        qps=float(match["qps"]),
        errors_per_s=float(match["errors"]),
    )


def parse_report(output: str) -> RunReport:
    transactions, queries, total = (p.search(output) for p in (_TRANSACTIONS, _QUERIES, _TOTAL_TIME))
    if not (transactions and queries and total):
        raise TrafficError(f"sysbench finished without its statistics:\n{_tail(output)}")
    return RunReport(
        transactions=int(transactions[1]),
        transactions_per_s=float(transactions[2]),
        queries=int(queries[1]),
        queries_per_s=float(queries[2]),
        total_time_s=float(total[1]),
    )


def find_sysbench() -> str:
    found = shutil.which("sysbench")
    if not found:
        raise MissingBinaryError("sysbench", "sysbench")
    return found


def sysbench_command(
    binary: str, spec: TrafficSpec, command: str, login: DatabaseLogin, config_file: str
) -> list[str]:
    """The argument vector for ``command``; the password is only in ``config_file``."""
    if command not in COMMANDS:
        raise TrafficError(f"sysbench command {command!r}: choose one of {', '.join(COMMANDS)}")
    size = spec.resolved
    args = [
        binary,
        spec.workload,
        "--db-driver=mysql",
        f"--mysql-host={login.host}",
        f"--mysql-port={login.port}",
        f"--mysql-user={login.user}",
        f"--mysql-db={login.database}",
        f"--config-file={config_file}",
        f"--tables={size.tables}",
        f"--table-size={size.table_size}",
        f"--threads={size.threads}",
    ]
    if command == "run":
        args += [f"--time={size.duration_s}", "--events=0", f"--rate={spec.rate}", "--report-interval=1"]
    return [*args, command]


def password_options(password: str) -> bytes:
    if "\n" in password or "\r" in password:
        raise TrafficError("the lab password contains a line break, which sysbench's option file cannot hold")
    return f"mysql-password={password}\n".encode()


@contextmanager
def _secret_fd(content: bytes) -> Iterator[int]:
    """A pipe's read end holding ``content``: handed to the child, never written to disk."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, content)  # far below the pipe buffer, so this never blocks
        os.close(write_fd)
        write_fd = -1
        yield read_fd
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def execute(
    spec: TrafficSpec,
    command: str,
    login: DatabaseLogin,
    on_progress: ProgressCallback | None = None,
    binary: str | None = None,
) -> str:
    """Run one sysbench command to the end and return its output; TrafficError (with the tail) on failure."""
    binary = binary or find_sysbench()
    timeout_s = GRACE_S + (spec.resolved.duration_s if command == "run" else 0) + 600
    with _secret_fd(password_options(login.password)) as fd:
        argv = sysbench_command(binary, spec, command, login, f"/dev/fd/{fd}")
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            text=True,
            errors="replace",
        )
    lines: deque[str] = deque(maxlen=400)
    expired = threading.Event()

    def expire() -> None:  # a hung server must not hang the caller
        expired.set()
        process.kill()

    watchdog = threading.Timer(timeout_s, expire)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            tick = parse_tick(line)
            if tick and on_progress:
                on_progress(tick)
        returncode = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    output = "".join(lines)
    if expired.is_set():
        raise TrafficError(
            f"sysbench {command} on {login.instance_id} ran past {timeout_s:.0f}s and was killed"
        )
    if returncode != 0:
        raise TrafficError(
            f"sysbench {spec.workload} {command} failed on {login.instance_id} "
            f"({login.host}:{login.port}, exit {returncode}):\n{_tail(output)}{_hint(output)}"
        )
    return output


def prepare(spec: TrafficSpec, config: LabConfig) -> TrafficSummary:
    """Create fresh sbtest tables on the writer (existing ones are dropped first); the reader replicates them."""
    binary = find_sysbench()
    lab = LabTarget.resolve(config)
    login = lab.login("writer")
    started = time.monotonic()
    with lab.meter() as meter:
        execute(spec, "cleanup", login, binary=binary)
        execute(spec, "prepare", login, binary=binary)
    return _summary("prepare", spec, login, started, meter.results())


def cleanup(spec: TrafficSpec, config: LabConfig) -> TrafficSummary:
    """Drop the sbtest tables (on the writer; the drop replicates)."""
    binary = find_sysbench()
    lab = LabTarget.resolve(config)
    login = lab.login("writer")
    started = time.monotonic()
    with lab.meter() as meter:
        execute(spec, "cleanup", login, binary=binary)
    return _summary("cleanup", spec, login, started, meter.results())


def run(spec: TrafficSpec, config: LabConfig, on_progress: ProgressCallback | None = None) -> TrafficSummary:
    """Run the workload on ``spec.target`` for its duration; ``on_progress`` gets one tick a second."""
    binary = find_sysbench()
    lab = LabTarget.resolve(config)
    login = lab.login(spec.target)
    if spec.target == "reader":
        lab.wait_for_reader()  # tables prepared a moment ago must have arrived
    started = time.monotonic()
    with lab.meter() as meter:
        output = execute(spec, "run", login, on_progress=on_progress, binary=binary)
    report = parse_report(output)
    return _summary("run", spec, login, started, meter.results(), report)


def _summary(
    action: str,
    spec: TrafficSpec,
    login: DatabaseLogin,
    started: float,
    audit: tuple[InstanceAudit, ...],
    report: RunReport | None = None,
) -> TrafficSummary:
    return TrafficSummary(
        action=action,
        target=login.role,
        instance_id=login.instance_id,
        duration_s=time.monotonic() - started,
        audit=audit,
        workload=spec.workload,
        transactions_per_s=report.transactions_per_s if report else None,
        queries_per_s=report.queries_per_s if report else None,
        transactions=report.transactions if report else None,
        queries=report.queries if report else None,
    )


def _tail(output: str) -> str:
    return "\n".join(output.rstrip().splitlines()[-_TAIL_LINES:])


def _hint(output: str) -> str:
    if "doesn't exist" in output:
        return "\nhint: the sbtest tables are missing - run `labkit traffic prepare` with the same --tables first"
    if "Access denied" in output:
        return "\nhint: the lab password did not work - is this the state directory the lab was started from?"
    if "Can't connect" in output or "unable to connect" in output:
        return "\nhint: is the lab running? `labkit local status`"
    return ""
