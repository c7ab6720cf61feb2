"""``labkit traffic prepare|run|cleanup|scenario``: sysbench load and the audit scenarios on the local lab,
each followed by the table of tps, qps and the audit lines and bytes every instance wrote."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from labkit.cli.options import console, current_config

traffic_app = typer.Typer(
    help=(
        "Make audit traffic on the local lab and see how much audit log it produces. "
        "Typical order: `labkit local up`, `labkit traffic prepare`, `labkit traffic run`, "
        "`labkit traffic scenario all`, `labkit traffic cleanup`. "
        "Every command prints transactions/s, queries/s and the audit lines and bytes each instance wrote."
    ),
    no_args_is_help=True,
)
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
    _print_traffic([traffic.prepare(spec, current_config())])


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

    Needs `labkit traffic prepare` first (same --intensity/--tables). Example: `labkit traffic run -w oltp_read_only -t reader -i low --duration 5`
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

        summary = traffic.run(spec, current_config(), on_progress=tick)
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
    _print_traffic([traffic.cleanup(spec, current_config())])


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

    _print_traffic(traffic.run_scenarios(name, current_config(), target))
