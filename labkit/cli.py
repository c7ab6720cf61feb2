"""The ``labkit`` console script."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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
def local_up() -> None:
    """Start the local lab (idempotent): emulator, writer and reader instances. Ready in seconds."""
    from labkit.local import control

    state, started = control.up(_config())
    verb = "started" if started else "already running"
    console.print(f"[green]local lab {verb}[/green]: emulator {state.endpoint}")
    for inst in state.instances:
        console.print(f"  {inst.role:6} {inst.id}  127.0.0.1:{inst.port}  naming={inst.scheme}")
    console.print(
        "Next: `labkit traffic run` makes audit traffic; `labkit local status` shows the audit files."
    )


@local_app.command("down")
def local_down() -> None:
    """Stop the local lab and every process it started. Data directories are kept for a fast restart."""
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


def main() -> None:
    try:
        app()
    except LabkitError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
