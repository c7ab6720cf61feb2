"""``labkit local up|down|status``: start, stop and look at the local lab (emulator and MariaDB stand-ins)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from labkit.cli.options import console, current_config

local_app = typer.Typer(
    help="The local lab: an AWS emulator and an Aurora stand-in (MariaDB) running in the background.",
    no_args_is_help=True,
)


@local_app.command("up")
def local_up(
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Discard the saved archive and tracking table: start from nothing."),
    ] = False,
) -> None:
    """Start the local lab (idempotent): emulator, writer and reader instances. Ready in seconds.

    The archive (S3) and the tracking table (DynamoDB) of the last run come back from the state directory's snapshot; --fresh discards them.
    """
    from labkit.local import control
    from labkit.local.snapshot import snapshot_file

    config = current_config()
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
    """Stop the local lab and every process it started. Data directories and a snapshot of the archive and the tracking table are kept: the next `up` restores them."""
    from labkit.local import control

    stopped = control.down(current_config())
    console.print("local lab stopped" if stopped else "the local lab was not running")


@local_app.command("status")
def local_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output for scripts.")] = False,
) -> None:
    """Show the emulator endpoint, the instances and their audit files."""
    from labkit.local import control

    info = control.status(current_config())
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
