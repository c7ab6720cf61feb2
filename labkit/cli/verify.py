"""``labkit verify`` and ``labkit manifest``: reconcile the archive against the sources (or against its
hash-chained manifests), and write those manifests. Both exit 1 when the archive is not as it should be."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from labkit.cli.options import LabTargetOption, console, current_config, target_config
from labkit.config import LabConfig
from labkit.extras import require


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

    Every backed-up identity's parts must tile its file from byte 0 and equal the source's bytes; every source file must be backed up (or legitimately pending). Exits 1 when bytes are missing, duplicated (also under two identities), misattributed (one file's bytes under another's identity), never detected, or LOST; `--accept-lost` accepts LOST files once acknowledged.

    With --manifests: each instance's manifest chain and every part against its day's manifest (present, same sha256 decompressed, none unlisted on a closed day); exits 1 on any break.
    """
    from contextlib import nullcontext
    from pathlib import Path

    from labkit.ops import require_aws

    config = target_config(target)
    require_aws(config, "verify")
    if manifests:
        _verify_manifests(config, Path(out), as_json)
        return

    require("matplotlib")  # the backup-state chart
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

    Idempotent: a day whose parts did not change writes nothing; a day that gained parts gets a new revision that keeps everything the last one listed. Exits 1 when the archive no longer matches an earlier manifest (then run `labkit verify --manifests`).
    """
    from labkit import aws
    from labkit.backup.manifest import ManifestError, check_day, list_parts, manifested_days, write_manifests

    config = current_config()
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
