"""The ``labkit`` console script."""

from __future__ import annotations

import importlib
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from labkit.alarms import DEFAULT_LAG_THRESHOLD_S
from labkit.cli_ops import LabTargetOption, target_config
from labkit.config import LabConfig, load_config
from labkit.errors import LabkitError

app = typer.Typer(
    help="Back up Aurora MySQL audit logs to S3 - and run the whole lab on this machine, no AWS account needed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(
    help="The local lab: an AWS emulator and an Aurora stand-in (MariaDB) running in the background.",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")
console = Console()
err = Console(stderr=True)


def _config() -> LabConfig:
    return load_config()


@local_app.command("up")
def local_up(
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Discard the saved archive and tracking table: start from nothing."),
    ] = False,
) -> None:
    """Start the local lab (idempotent): emulator, writer and reader instances. Ready in seconds.

    The archive (S3) and the tracking table (DynamoDB) of the last run come back from the state directory's
    snapshot; --fresh discards them."""
    from labkit.local import control
    from labkit.local.snapshot import snapshot_file

    config = _config()
    had_snapshot = snapshot_file(config).exists()
    state, started = control.up(config, fresh=fresh)
    verb = "started" if started else "already running"
    console.print(f"[green]local lab {verb}[/green]: emulator {state.endpoint}")
    if started and fresh:
        gone = "the saved archive and tracking table were discarded" if had_snapshot else "no snapshot"
        console.print(f"  fresh start: {gone}; S3 and DynamoDB start empty")
    elif started and state.restored:
        r = state.restored
        console.print(
            f"  restored from {snapshot_file(config)}: {r['objects']} S3 object versions "
            f"({r['object_bytes']} bytes) in {r['buckets']} bucket(s), {r['items']} tracking items "
            f"({r['resumed']} unfinished, handed to the downloader)"
        )
    elif started:
        console.print("  no snapshot to restore: S3 and DynamoDB start empty")
    for inst in state.instances:
        console.print(f"  {inst.role:6} {inst.id}  127.0.0.1:{inst.port}  naming={inst.scheme}")
    console.print(
        "Next: `labkit traffic run` makes audit traffic; `labkit local status` shows the audit files."
    )


@local_app.command("down")
def local_down() -> None:
    """Stop the local lab and every process it started. Data directories and a snapshot of the archive and
    the tracking table are kept: the next `up` restores them."""
    from labkit.local import control

    stopped = control.down(_config())
    console.print("local lab stopped" if stopped else "the local lab was not running")


@local_app.command("status")
def local_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output for scripts.")] = False,
) -> None:
    """Show the emulator endpoint, the instances and their audit files."""
    from labkit.local import control

    info = control.status(_config())
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    if not info["running"]:
        console.print("the local lab is not running: start it with `labkit local up`")
        raise typer.Exit(1)
    console.print(f"emulator: {info['endpoint']}  (log: {info['log_file']})")
    table = Table(
        "instance", "role", "port", "naming", "audit file (as RDS lists it)", "bytes", "path on disk"
    )
    for inst in info["instances"]:
        for i, f in enumerate(inst["audit_files"] or [{}]):
            first = i == 0
            table.add_row(
                inst["id"] if first else "",
                inst["role"] if first else "",
                str(inst["port"]) if first else "",
                inst["scheme"] if first else "",
                f.get("name", "-"),
                str(f.get("size", "")),
                f.get("path", ""),
            )
    console.print(table)


# --- labkit traffic -------------------------------------------------------------------------------------
traffic_app = typer.Typer(
    help=(
        "Make audit traffic on the local lab and see how much audit log it produces. "
        "Typical order: `labkit local up`, `labkit traffic prepare`, `labkit traffic run`, "
        "`labkit traffic scenario all`, `labkit traffic cleanup`. "
        "Every command prints transactions/s, queries/s and the audit lines and bytes each instance wrote."
    ),
    no_args_is_help=True,
)
app.add_typer(traffic_app, name="traffic")

WorkloadOption = Annotated[
    str,
    typer.Option(
        "--workload",
        "-w",
        help="sysbench workload: oltp_read_write, oltp_read_only, oltp_write_only, oltp_insert, "
        "oltp_update_index, oltp_update_non_index or oltp_delete.",
    ),
]
IntensityOption = Annotated[
    str,
    typer.Option(
        "--intensity",
        "-i",
        help="low (1 thread, 2 tables x 1,000 rows, 10 s), medium (2 threads, 4 x 10,000, 30 s), "
        "high (4 threads, 8 x 10,000, 60 s) or custom (then give all of --threads --tables "
        "--table-size --duration). With a preset, any of those four overrides the preset's value.",
    ),
]
ThreadsOption = Annotated[int | None, typer.Option(help="Client threads (connections).")]
TablesOption = Annotated[int | None, typer.Option(help="Number of sbtest tables.")]
TableSizeOption = Annotated[int | None, typer.Option("--table-size", help="Rows per sbtest table.")]
DurationOption = Annotated[int | None, typer.Option("--duration", help="Run length in seconds.")]
RateOption = Annotated[
    int, typer.Option(help="Cap on transactions per second (sysbench --rate); 0 = as fast as possible.")
]
TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        help="writer or reader. The reader is read-only (it replicates from the writer), so it takes "
        "read-only work only. prepare and cleanup always run on the writer.",
    ),
]


def _traffic_spec(
    workload: str,
    intensity: str,
    threads: int | None,
    tables: int | None,
    table_size: int | None,
    duration: int | None,
    rate: int,
    target: str,
) -> Any:
    from labkit.traffic import TrafficSpec

    return TrafficSpec(  # validated here, before any process starts
        workload=workload,
        intensity=intensity,
        threads=threads,
        tables=tables,
        table_size=table_size,
        duration_s=duration,
        rate=rate,
        target=target,
    )


def _print_traffic(summaries: list[Any]) -> None:
    """One row per action and instance: the instance not targeted shows what reached it by replication."""
    from rich import box

    table = Table(
        box=box.SIMPLE_HEAD,
        title="traffic summary",
        title_justify="left",
        caption="* the instance the statements were sent to; the other got its lines by replication",
        caption_justify="left",
    )
    table.add_column("action", no_wrap=True)
    for header in ("seconds", "tps", "qps"):
        table.add_column(header, justify="right")
    table.add_column("instance", min_width=8)
    table.add_column("audit lines", justify="right")
    table.add_column("audit bytes", justify="right")
    for s in summaries:
        tps = f"{s.transactions_per_s:,.1f}" if s.transactions_per_s is not None else "-"
        qps = f"{s.queries_per_s:,.0f}" if s.queries_per_s is not None else "-"
        for i, entry in enumerate(s.audit):
            first = i == 0
            table.add_row(
                f"{s.action} {s.workload or ''}".strip() if first else "",
                f"{s.duration_s:.1f}" if first else "",
                tps if first else "",
                qps if first else "",
                entry.role + ("*" if entry.role == s.target else ""),
                f"{entry.lines:,}",
                f"{entry.bytes / 1e6:,.2f} MB" if entry.bytes >= 100_000 else f"{entry.bytes:,} B",
                end_section=i == len(s.audit) - 1,
            )
    console.print(table)


@traffic_app.command("prepare")
def traffic_prepare(
    workload: WorkloadOption = "oltp_read_write",
    intensity: IntensityOption = "low",
    tables: TablesOption = None,
    table_size: TableSizeOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Create the sbtest tables on the writer (replacing any from before); the reader gets them by replication.

    Use the same --intensity / --tables / --table-size for prepare and run.
    """
    from labkit import traffic

    spec = _traffic_spec(workload, intensity, threads, tables, table_size, None, 0, "writer")
    size = spec.resolved
    console.print(f"preparing {size.tables} table(s) x {size.table_size:,} rows on the writer ...")
    _print_traffic([traffic.prepare(spec, _config())])


@traffic_app.command("run")
def traffic_run(
    workload: WorkloadOption = "oltp_read_write",
    intensity: IntensityOption = "low",
    threads: ThreadsOption = None,
    tables: TablesOption = None,
    table_size: TableSizeOption = None,
    duration: DurationOption = None,
    rate: RateOption = 0,
    target: TargetOption = "writer",
) -> None:
    """Run a sysbench workload with a progress bar, then print tps, qps and the audit output per instance.

    Needs `labkit traffic prepare` first (same --intensity/--tables). Example:
    `labkit traffic run -w oltp_read_only -t reader -i low --duration 5`
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from labkit import traffic

    spec = _traffic_spec(workload, intensity, threads, tables, table_size, duration, rate, target)
    size = spec.resolved
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task(f"{spec.workload} on the {spec.target}", total=size.duration_s)

        def tick(t: traffic.ProgressTick) -> None:
            progress.update(
                task,
                completed=t.elapsed_s,
                description=f"{spec.workload} on the {spec.target}: {t.tps:,.0f} tps {t.qps:,.0f} qps",
            )

        summary = traffic.run(spec, _config(), on_progress=tick)
    _print_traffic([summary])


@traffic_app.command("cleanup")
def traffic_cleanup(
    workload: WorkloadOption = "oltp_read_write",
    intensity: IntensityOption = "low",
    tables: TablesOption = None,
) -> None:
    """Drop the sbtest tables on the writer (the drop replicates to the reader)."""
    from labkit import traffic

    spec = _traffic_spec(workload, intensity, None, tables, None, None, 0, "writer")
    _print_traffic([traffic.cleanup(spec, _config())])


@traffic_app.command("scenario")
def traffic_scenario(
    name: Annotated[
        str,
        typer.Argument(
            help="adhoc (queries, one failing), ddl (CREATE/ALTER/RENAME/DROP TABLE), users (CREATE USER, "
            "GRANT, REVOKE, DROP USER), failed-logins (wrong passwords: FAILED_CONNECT lines) or all."
        ),
    ],
    target: TargetOption = "writer",
) -> None:
    """Make the audit events an auditor looks for, beside sysbench's steady load.

    ddl and users change the database, so they run on the writer only. Example: `labkit traffic scenario all`
    """
    from labkit import traffic

    _print_traffic(traffic.run_scenarios(name, _config(), target))


@app.command("lab")
def lab_main(
    duration: Annotated[int, typer.Option(help="Seconds of sysbench traffic (the lab keeps it short).")] = 30,
    out: Annotated[str, typer.Option(help="Folder for summary.json and the backup-state chart.")] = "out",
) -> None:
    """The whole lab on this machine: up, deploy, traffic, pipeline catch-up, reconciliation, down.

    This is what `make lab` runs. Exits 1 when the reconciliation finds missing or duplicated bytes.
    """
    from pathlib import Path

    from labkit.lab import run_lab

    report = run_lab(_config(), duration_s=duration, out_dir=Path(out))
    if not report.clean:
        raise typer.Exit(1)


@app.command("verify")
def verify_backups(
    target: LabTargetOption = None,
    out: Annotated[str, typer.Option(help="Folder for summary.json and the backup-state chart.")] = "out",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    accept_lost: Annotated[
        bool,
        typer.Option(
            "--accept-lost",
            help="Exit 0 despite LOST files (acknowledged: gone upstream before they were copied).",
        ),
    ] = False,
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace-seconds",
            help="A source file written this recently and not in the table yet is pending, not undetected "
            "(default: the scan interval).",
        ),
    ] = None,
    manifests: Annotated[
        bool,
        typer.Option(
            "--manifests",
            help="Instead of the source reconciliation, check the archive against its hash-chained "
            "manifests (S3 only; works after the sources are gone).",
        ),
    ] = False,
) -> None:
    """Reconcile S3 against the source, independently of the tracking table.

    Every backed-up identity's parts must tile its file from byte 0 and equal the source's bytes; every
    source file must be backed up (or legitimately pending). Exits 1 when bytes are missing, duplicated
    (also under two identities), misattributed (one file's bytes under another's identity), never detected,
    or LOST; `--accept-lost` accepts LOST files once acknowledged.

    With --manifests: each instance's manifest chain and every part against its day's manifest (present,
    same sha256 decompressed, none unlisted on a closed day); exits 1 on any break.
    """
    from contextlib import nullcontext
    from pathlib import Path

    from labkit.ops import require_aws

    config = target_config(target)
    require_aws(config, "verify")
    if manifests:
        _verify_manifests(config, Path(out), as_json)
        return

    from labkit.verify import reconcile_target, write_report

    with (
        nullcontext()
        if as_json
        else console.status(f"reconciling S3 against the {config.target} sources ...")
    ):
        report = reconcile_target(config, grace_s=grace)
    summary_path, chart_path = write_report(report, Path(out))
    if as_json:
        typer.echo(summary_path.read_text())
    else:
        _print_reconciliation(report)
        console.print(f"summary: {summary_path}   chart: {chart_path}")
    if not report.passed(accept_lost=accept_lost):
        raise typer.Exit(1)


def _print_reconciliation(report: Any) -> None:
    table = Table(
        "instance",
        "file",
        "identity",
        "state",
        "verdict",
        "source bytes",
        "in S3",
        "parts",
        "pending",
        "problems",
    )
    for f in report.files:
        style = "red" if f.problems else None
        table.add_row(
            f.instance_id,
            f.name,
            f.file_id,
            f.state,
            f.status,
            str(f.size),
            str(f.s3_bytes),
            str(f.parts),
            str(f.pending),
            "; ".join(f.problems) or "-",
            style=style,
        )
    console.print(table)
    summary = report.summary()
    verdict = "[green]clean[/green]" if report.clean else "[red]NOT clean[/red]"
    lower = f", {summary['lost_lower_bounds']} of them lower bounds" if summary["lost_lower_bounds"] else ""
    console.print(
        f"reconciliation {verdict}: {summary['files']} files, {summary['backed_up_bytes']:,} bytes in S3 "
        f"({summary['compressed_bytes']:,} compressed), missing {summary['missing_files']}, "
        f"duplicated {summary['duplicated_files']}, misattributed {summary['misattributed_files']}, "
        f"undetected {summary['undetected_files']}, lost {summary['lost_files']} "
        f"({summary['lost_bytes']:,} bytes{lower}), gaps {summary['gaps']} "
        f"({summary['unacknowledged_gaps']} not acknowledged)"
    )
    for gap in report.unacknowledged_gaps:
        console.print(
            f"[red]GAP[/red] {gap['instance_id']}/{gap['sk']}: {gap.get('reason', '')}; at least "
            f"{int(gap.get('known_lost_bytes', 0)):,} bytes lost, the rest unknown "
            "(acknowledge with `labkit gaps --ack <id>`)"
        )


def _verify_manifests(config: LabConfig, out: Any, as_json: bool) -> None:
    from labkit import aws
    from labkit.verify import verify_manifests

    check = verify_manifests(aws.client("s3", config), config.names.bucket, config.log_prefix)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "manifests.json"
    path.write_text(json.dumps(check.summary(), indent=2))
    if as_json:
        typer.echo(path.read_text())
    else:
        if check.findings:
            table = Table("instance", "day", "finding", "object", "detail")
            for f in check.findings:
                table.add_row(f.instance_id, f.date, f.kind, f.subject, f.detail, style="red")
            console.print(table)
        for instance, (sequence, sha) in sorted(check.heads.items()):
            console.print(f"  {instance}: chain head manifest {sequence}, sha256 {sha}")
        verdict = "[green]intact[/green]" if check.clean else f"[red]{len(check.findings)} finding(s)[/red]"
        console.print(
            f"manifests {verdict}: {check.manifests} manifests, {check.parts_checked} parts "
            f"({check.bytes_checked:,} bytes) checked, {check.pending_parts} of today's parts not listed yet; "
            f"report: {path}"
        )
    if not check.clean:
        raise typer.Exit(1)


@app.command("manifest")
def manifest_write(
    day: Annotated[
        str | None,
        typer.Option("--day", help="YYYY-MM-DD (a date= partition); default: every day that has parts."),
    ] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="Only this instance (default: every one in S3).")
    ] = None,
) -> None:
    """Write the tamper-evident manifests: per instance and day, every part with its sha256, hash-chained.

    Idempotent: a day whose parts did not change writes nothing; a day that gained parts gets a new
    revision that keeps everything the last one listed. Exits 1 when the archive no longer matches an
    earlier manifest (then run `labkit verify --manifests`).
    """
    from labkit import aws
    from labkit.backup.manifest import ManifestError, check_day, list_parts, manifested_days, write_manifests

    config = _config()
    s3, bucket, prefix = aws.client("s3", config), config.names.bucket, config.log_prefix
    if day is not None:
        check_day(day)
    found = {(p.instance_id, p.date) for p in list_parts(s3, bucket, prefix)}
    found |= manifested_days(s3, bucket, prefix)
    todo = sorted(
        (i, d) for i, d in found if (instance is None or i == instance) and (day is None or d == day)
    )
    table, failed = Table("instance", "day", "manifest", "files", "parts", "bytes", "action"), 0
    for instance_id, date in todo:
        try:
            outcome = write_manifests(s3, bucket, prefix, instance_id, date)
        except ManifestError as exc:
            failed += 1
            table.add_row(instance_id, date, "-", "", "", "", f"[red]{exc}[/red]")
            continue
        if outcome is not None:
            action = "written" if outcome.written else "unchanged"
            table.add_row(
                instance_id,
                date,
                f"{outcome.sequence} ({outcome.sha256[:12]})",
                str(outcome.files),
                str(outcome.parts),
                f"{outcome.bytes:,}",
                action,
            )
    console.print(table)
    console.print(f"{len(todo)} day partition(s), {failed} failed" if todo else "no backup parts in S3 yet")
    if failed:
        raise typer.Exit(1)


# --- labkit alarms ---------------------------------------------------------------------------------------
@app.command("alarms")
def alarms_check(
    target: LabTargetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every alarm's state as JSON.")] = False,
    lag_threshold: Annotated[
        float,
        typer.Option("--lag-threshold-seconds", help="BackupLag and iterator-age alarm threshold."),
    ] = DEFAULT_LAG_THRESHOLD_S,
) -> None:
    """The lab stack's alarms: CloudWatch's states (aws), or the same rules evaluated on the local lab.

    The same rules on both targets (labkit.alarms): files LOST or FAILED, backup lag, messages in the DLQ or
    the on-failure queue, function errors, and the scanner's heartbeat (a silent scanner is an alarm). On aws
    the thresholds are the deployed alarms' own. Exits 1 when any fires.
    """
    from labkit.alarms import ALARM
    from labkit.ops import alarm_states

    config = target_config(target)
    results, notes = alarm_states(config, lag_threshold_s=lag_threshold)
    firing = [r for r in results if r.state == ALARM]
    if as_json:
        typer.echo(json.dumps({"firing": len(firing), "alarms": [r.as_dict() for r in results]}, indent=2))
    else:
        table = Table("alarm", "state", "value", "threshold", f"what the {config.target} lab shows")
        colours = {"ALARM": "red", "OK": "green"}
        for r in results:
            colour = colours.get(r.state, "yellow")
            value = "-" if r.value is None else f"{r.value:,.0f}"
            table.add_row(
                r.rule.key, f"[{colour}]{r.state}[/{colour}]", value, f"{r.rule.threshold:,.0f}", r.reason
            )
        console.print(table)
        for note in notes:
            err.print(f"[yellow]note:[/yellow] {note}")
        console.print(f"{len(firing)} alarm(s) firing" if firing else "[green]no alarm firing[/green]")
    if firing:
        raise typer.Exit(1)


@app.command("retry-failed")
def retry_failed_files(
    instance: Annotated[
        list[str] | None, typer.Option("--instance", help="Only this instance (repeatable).")
    ] = None,
) -> None:
    """Try FAILED files again, once the cause is fixed (a FAILED sealed file is otherwise never retried)."""
    from labkit import aws
    from labkit.backup.retry import retry_failed

    config = _config()
    table = aws.table(config)
    retried = retry_failed(table, instance or None)
    for pk, sk in retried:
        console.print(f"retrying {pk} {sk}")
    console.print(f"{len(retried)} FAILED file(s) handed back to the downloader")


# --- labkit notebooks ------------------------------------------------------------------------------------
notebooks_app = typer.Typer(help="The workbook: numbered notebooks in notebooks/.", no_args_is_help=True)
app.add_typer(notebooks_app, name="notebooks")


@notebooks_app.command("run")
def notebooks_run(
    out: Annotated[str, typer.Option(help="Folder for executed notebooks, HTML exports and values.")] = (
        "out/notebooks"
    ),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run the notebooks whose name starts with this (repeat)."),
    ] = None,
    duration: Annotated[int | None, typer.Option(help="Seconds of sysbench traffic (DURATION_S).")] = None,
) -> None:
    """Run every notebook in order, headless (papermill), against the local lab.

    This is what `make notebooks` runs. The lab is brought up first and down at the end if this run started
    it. A failing cell stops the run and names the notebook and the cell (exit 1).
    """
    from pathlib import Path

    from labkit.notebooks import NotebookFailedError, run_workbook

    parameters = {} if duration is None else {"DURATION_S": duration}
    try:
        result = run_workbook(
            load_config(target="local"),
            Path(out),
            names=only or None,
            parameters=parameters,
            on_notebook=lambda name: console.print(f"[bold]{name}[/bold] ..."),
        )
    except NotebookFailedError as exc:
        err.print(f"[red]notebook failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    for run in result.runs:
        console.print(f"  {run.name:32} {run.seconds:6.1f}s")
    console.print(
        f"[green]{len(result.runs)} notebooks ran[/green] in {result.seconds:.0f}s; outputs in {out}/"
    )


# Command groups kept in their own modules: each module has ``register(app)``. One module per line.
_COMMAND_MODULES: tuple[str, ...] = ("labkit.cli_ops", "labkit.cli_query", "labkit.cli_gaps")
for _module in _COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    try:
        app()
    except LabkitError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
