"""``labkit deploy|destroy|status|scan``: operate the lab on either target (logic: labkit.ops).

Every command takes ``--target aws|local``; without it LabConfig decides as everywhere (LABKIT_TARGET,
else local). With these and ``labkit verify`` / ``labkit alarms``, CI runs the whole AWS path without a
notebook: deploy -> scan --wait -> verify -> alarms -> status -> destroy --yes.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich.table import Table

from labkit.cli.options import LabTargetOption, console, err, target_config
from labkit.config import LabConfig
from labkit.extras import require
from labkit.ops import DEFAULT_STACK, DEFAULT_VERSION

StackOption = Annotated[str, typer.Option("--stack", help="Pulumi stack name of both stacks (aws).")]


def print_rows(rows: list[dict[str, Any]], title: str = "") -> None:
    if not rows:
        return
    table = Table(*rows[0].keys(), title=title or None, title_justify="left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _step(message: str) -> None:
    console.rule(message)


def _require_stacks(config: LabConfig) -> None:
    """The Pulumi SDK for deploy and destroy on aws (status shows what it can without it)."""
    if config.target == "aws":
        require("pulumi")


def _spinner(config: LabConfig, message: str) -> Any:
    """A rich spinner for the local steps; the aws steps show the workbook's own progress bars instead."""
    return console.status(message) if config.target == "local" else nullcontext()


def deploy_cmd(
    target: LabTargetOption = None,
    stack: StackOption = DEFAULT_STACK,
    version: Annotated[
        str, typer.Option("--version", help="Image version (semver, e.g. v1.2.0; ECR tags are immutable).")
    ] = DEFAULT_VERSION,
    images: Annotated[
        bool,
        typer.Option(
            "--images/--no-images",
            help="Build and push the images (aws). --no-images: VERSION is already in ECR.",
        ),
    ] = True,
) -> None:
    """Deploy the lab. aws: ECR stack, then the images, then the lab stack. local: the lab service up.

    The order on aws is required: the lab stack's functions run the images pushed to the ECR stack's repositories, and its alarms watch the scanner's heartbeat metric, which only images built from this code emit, so the images must exist before the lab stack (and its alarms) are deployed. Checks pulumi, docker, make, the aws CLI and AWS credentials before changing anything.
    """
    from labkit import ops

    config = target_config(target)
    _require_stacks(config)
    with _spinner(config, "starting the local lab and its pipeline ..."):
        steps = ops.deploy(config, stack_name=stack, version=version, build_images=images, say=_step)
    for step in steps:
        print_rows(step.rows, step.step)
    console.print(
        f"[green]deployed[/green] on {config.target}. Next: `labkit scan --wait --target {config.target}`"
    )


def destroy_cmd(
    target: LabTargetOption = None,
    stack: StackOption = DEFAULT_STACK,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Tear the lab down. aws: pulumi destroy of the lab stack, then the ECR stack. local: the lab service down.

    On aws the archive (backup bucket, tracking table, backup KMS key) is protected and pulumi destroy stops at it. To delete it with the lab, deliberately: `pulumi config set labTeardown true` in the lab stack, `pulumi up`, then this command (copy out what you must keep first).
    """
    from labkit import ops

    config = target_config(target)
    _require_stacks(config)
    what = (
        f"the lab stack and the ECR stack '{stack}' of {config.project} in {config.region}"
        if config.target == "aws"
        else f"the local lab in {config.state_dir} (the emulator's data is in memory and goes with it)"
    )
    if not yes and not typer.confirm(f"Destroy {what}?", default=False):
        raise typer.Abort()
    with _spinner(config, "stopping the local lab ..."):
        steps = ops.destroy(config, stack_name=stack, say=_step)
    for step in steps:
        print_rows(step.rows)
    console.print(f"[green]destroyed[/green] on {config.target}")


def status_cmd(
    target: LabTargetOption = None,
    stack: StackOption = DEFAULT_STACK,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output for scripts.")] = False,
) -> None:
    """What is deployed and the backup state: files backed up, LOST and FAILED, bytes in S3 and pending, and whether each instance keeps its audit files for enough scan periods (the setting to change if not).

    Exits 1 when the lab is not deployed.
    """
    from labkit import ops

    config = target_config(target)
    with nullcontext() if as_json else console.status(f"reading the {config.target} lab ..."):
        info = ops.status(config, stack_name=stack)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
    else:
        _print_status(info)
    if not info["deployed"]:
        raise typer.Exit(1)


def _print_status(info: dict[str, Any]) -> None:
    console.print(f"target [bold]{info['target']}[/bold], project {info['project']}")
    local = info.get("local")
    if local and local["running"]:
        console.print(f"local lab running (pid {local['pid']}), emulator {local['endpoint']}")
    for key, outputs in (info.get("stacks") or {}).items():
        print_rows([{"output": k, "value": v} for k, v in sorted(outputs.items())], f"{key} stack outputs")
    print_rows(info["resources"], "deployed resources")
    if info.get("backup"):
        print_rows([{"figure": k, "value": f"{v:,}"} for k, v in info["backup"].items()], "backup state")
    print_rows(
        [
            {k: row[k] for k in ("instance_id", "verdict", "covered_scans", "history_s", "audit_rate_bps")}
            for row in info.get("history") or []
        ],
        "kept audit history, in scan periods",
    )
    for note in info["notes"]:
        err.print(f"[yellow]note:[/yellow] {note}")
    console.print("[green]deployed[/green]" if info["deployed"] else "[red]not deployed[/red]")


def scan_cmd(
    target: LabTargetOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Then wait until every byte the table knows of is in S3.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits at most.")] = 180.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run the DB Scanner now (aws: its live alias; local: the lab's Lambda runtime), as the schedule would.

    Prints the instances it queued (aws) and, with --wait, the files detected and bytes copied meanwhile. Exits 1 when the scanner fails or --wait times out.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from labkit.ops import scan

    config = target_config(target)
    label = "scanning, then waiting for the pipeline to catch up" if wait else "scanning"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task(f"{label} ({config.target})", total=None)

        def on_round(rounds: int, copied: int, pending: int) -> None:
            progress.update(
                task,
                completed=copied,
                total=copied + pending,
                description=f"round {rounds}: {pending:,} B pending",
            )

        result = scan(config, wait=wait, timeout_s=timeout, on_round=on_round)
    summary = result.as_dict()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    if result.queued is not None:
        console.print(f"queued {len(result.queued)} instance(s): {', '.join(result.queued) or '-'}")
        if result.skipped:
            console.print(f"skipped (opted out or another engine): {', '.join(result.skipped)}")
    else:
        console.print(f"the {config.target} scanner ran")
    if wait:
        console.print(
            f"caught up after {result.rounds} round(s): {summary['new_files']} new file(s), "
            f"{summary['bytes_copied']:,} bytes copied; {result.after['files']} files tracked, "
            f"{result.after['bytes backed up']:,} bytes backed up, {result.pending_bytes:,} pending"
        )
    else:
        console.print(f"{result.pending_bytes:,} bytes pending; `labkit scan --wait` waits for the copies")
