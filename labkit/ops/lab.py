"""The lab's main job (``make lab``): up -> deploy -> traffic -> the pipeline catches up -> reconciliation.

Everything runs on this machine: the local lab service holds the emulator, the databases and the Lambda
runtime; this process only drives it and reads the result, as a notebook would.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from labkit import traffic
from labkit.backup import table as t
from labkit.config import LabConfig, with_profile
from labkit.errors import LabkitError
from labkit.local import control
from labkit.traffic.lab import LabTarget
from labkit.verify import Reconciliation, reconcile_target, write_report

console = Console()


class PipelineNotCaughtUpError(LabkitError):
    """The pipeline still had bytes to copy when the wait ended."""


def runtime_call(
    endpoint: str, route: str, payload: dict[str, Any] | None = None, timeout: float = 30
) -> Any:
    """GET (no payload) or POST a control route of the lab service's Lambda runtime."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{endpoint}/labkit-api/{route}", data=data, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def pending_bytes(config: LabConfig) -> int:
    """Bytes the tracking table knows about that are not in S3 yet: files not LOST, and not the active
    file of an rds-mysql instance (its name moves at rotation, so it is copied once it is sealed)."""
    from labkit import aws

    table = aws.table(config)
    return sum(
        max(0, i["size"] - i["copied_bytes"])
        for i in t.all_items(table)
        if i["state"] not in (t.LOST, t.FAILED)
        and "vanished_at" not in i
        and (i["scheme"] != "rds-mysql" or i.get("sealed"))
    )


def catch_up(config: LabConfig, endpoint: str, timeout_s: float = 180.0) -> int:
    """Scan now and let the pipeline drain, until a scan finds nothing new; returns the rounds it took."""
    deadline = time.monotonic() + timeout_s
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        runtime_call(endpoint, "runtime/tick")
        runtime_call(
            endpoint, "runtime/drain", {"timeout": max(5.0, deadline - time.monotonic())}, timeout=timeout_s
        )
        if pending_bytes(config) == 0:
            runtime_call(endpoint, "runtime/tick")  # one more scan: did anything change meanwhile?
            runtime_call(endpoint, "runtime/drain", {"timeout": 30.0}, timeout=60)
            if pending_bytes(config) == 0:
                return rounds
    raise PipelineNotCaughtUpError(f"{pending_bytes(config)} bytes still to copy after {timeout_s:.0f}s")


def seal_active_files(config: LabConfig) -> None:
    """Rotate every instance's audit file, so the files of this run are sealed and can be BACKED_UP."""
    target = LabTarget.resolve(config)
    for role in ("writer", "reader"):
        connection = target.login(role).connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET GLOBAL server_audit_file_rotate_now = ON")
        finally:
            connection.close()


def _mb(n: float) -> str:
    """Bytes in decimal units, as labkit.dashboard.tables.size writes them (no pandas here)."""
    for divisor, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(n) >= divisor:
            return f"{n / divisor:,.1f} {unit}"
    return f"{n:,.0f} B"


def runtime_table(stats: Mapping[str, Any]) -> Table:
    """The local Lambda runtime's counters, one row per function (what ``/labkit-api/runtime`` answers)."""
    table = Table(
        "function", "invocations", "items", "errors", "item failures", "last error", title_justify="left"
    )
    for name, counters in stats.items():
        if not isinstance(counters, Mapping) or "invocations" not in counters:
            continue
        errors = int(counters.get("errors", 0)) + int(counters.get("item_failures", 0))
        table.add_row(
            name,
            f"{int(counters['invocations']):,}",
            f"{int(counters.get('items', 0)):,}",
            f"{int(counters.get('errors', 0)):,}",
            f"{int(counters.get('item_failures', 0)):,}",
            str(counters.get("last_error") or "-")[:60],
            style="red" if errors else None,
        )
    stream = stats.get("stream")
    if isinstance(stream, Mapping):
        table.caption = (
            f"stream: {int(stream.get('records_read', 0)):,} records read, "
            f"{int(stream.get('records_filtered', 0)):,} filtered out (the downloader's own writes), "
            f"{int(stream.get('on_failure_sent', 0)):,} sent to the on-failure queue"
        )
        table.caption_justify = "left"
    return table


def reconciliation_table(summary: Mapping[str, Any]) -> Table:
    """The reconciliation in a few rows: what was checked, what is in S3, and every kind of problem."""
    table = Table("figure", "value", show_header=False, title_justify="left")
    rows = [
        ("files checked", f"{summary['files']:,}"),
        ("source bytes", _mb(summary["source_bytes"])),
        ("in S3", f"{_mb(summary['backed_up_bytes'])} ({_mb(summary['compressed_bytes'])} gzip)"),
        ("pending (not copied yet)", _mb(summary["pending_bytes"])),
        ("missing files", f"{summary['missing_files']:,} ({_mb(summary['missing_bytes'])})"),
        ("duplicated files", f"{summary['duplicated_files']:,} ({_mb(summary['duplicated_bytes'])})"),
        ("LOST files", f"{summary['lost_files']:,} ({_mb(summary['lost_bytes'])})"),
        ("FAILED files", f"{summary['failed_files']:,}"),
        ("gaps not acknowledged", f"{summary['unacknowledged_gaps']:,} of {summary['gaps']:,}"),
    ]
    bad = {"missing files", "duplicated files", "LOST files", "FAILED files", "gaps not acknowledged"}
    for name, value in rows:
        flagged = name in bad and value.split()[0] != "0"
        table.add_row(name, value, style="red" if flagged else None)
    return table


def run_lab(
    config: LabConfig, duration_s: int = 30, out_dir: Path = Path("out"), *, console: Console = console
) -> Reconciliation:
    """``make lab``'s five steps, each a rule and a line or a short table on ``console`` (stderr for
    ``labkit lab --json``, whose stdout is the summary alone)."""
    # the workshop profile: scan every 10 s, call an aurora-named file sealed 5 s after its last write
    config = with_profile(config, "workshop")
    started_at = time.monotonic()
    console.rule("1/5 local lab up (emulator, Aurora stand-in, pipeline)")
    state, started = control.up(config)
    console.print(
        f"emulator {state.endpoint}; instances: " + ", ".join(f"{i.id}:{i.port}" for i in state.instances)
    )
    try:
        console.rule(f"2/5 sysbench and audit scenarios for {duration_s}s")
        spec = traffic.TrafficSpec("oltp_read_write", intensity="low", duration_s=duration_s, rate=200)
        traffic.prepare(spec, config)
        run = traffic.run(spec, config)
        traffic.run_scenarios("all", config)
        console.print(
            f"sysbench: {run.transactions_per_s or 0:.0f} tps, {run.audit_bytes / 1e6:.1f} MB of audit log written"
        )
        console.rule("3/5 the pipeline catches up (scan -> detect -> copy)")
        seal_active_files(config)  # rotate: every file of this run but the new active one can be sealed
        time.sleep(config.seal_after_s + 1)  # ... once it has been quiet for seal_after_s
        rounds = catch_up(config, state.endpoint)
        stats = runtime_call(state.endpoint, "runtime")
        console.print(f"caught up after {rounds} scan(s)")
        console.print(runtime_table(stats))
        console.rule("4/5 reconciliation: S3 bytes vs the database's audit files")
        report = reconcile_target(config)
        summary_path, chart_path = write_report(
            report,
            out_dir,
            {"elapsed_s": round(time.monotonic() - started_at, 1), "sysbench_tps": run.transactions_per_s},
        )
        verdict = (
            "[green]clean: every audit byte in S3, exactly once[/green]"
            if report.clean
            else "[red]NOT clean[/red]"
        )
        console.print(verdict)
        console.print(reconciliation_table(report.summary()))
        console.print(f"summary: {summary_path}\nchart:   {chart_path}")
        return report
    finally:
        if started:
            console.rule("5/5 local lab down")
            control.down(config)
