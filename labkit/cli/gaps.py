"""``labkit gaps``: the windows in which audit files may have been created and deleted unseen, and their
acknowledgement. ``labkit verify`` fails while a gap is not acknowledged: someone must look (raise the
rotation settings, scan more often) and say so."""

from __future__ import annotations

import getpass
import json
import time
from typing import Annotated

import typer
from rich.table import Table

from labkit import aws
from labkit.backup import gaps as g
from labkit.backup import table as t
from labkit.cli.options import LabTargetOption, console, target_config


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def gap_id(gap: dict[str, object]) -> str:
    """How a person names a gap on the command line: ``<instance>/<sk>``."""
    return f"{gap['instance_id']}/{gap['sk']}"


def gaps_cmd(
    target: LabTargetOption = None,
    ack: Annotated[
        list[str] | None,
        typer.Option("--ack", help="Acknowledge this gap (its id as listed, or 'all'); repeatable."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who acknowledges (default: your user name).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why it is acknowledged (kept with the gap).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the gaps as JSON.")] = False,
) -> None:
    """List recorded gaps; with --ack, acknowledge them (they stay listed and counted by verify)."""
    config = target_config(target)
    table = aws.table(config)
    found = sorted(g.all_gaps(table), key=lambda x: (x["instance_id"], x["from_ms"]))
    if ack:
        wanted = {gap_id(x) for x in found} if "all" in ack else set(ack)
        unknown = wanted - {gap_id(x) for x in found}
        if unknown:
            console.print(
                f"[red]no such gap:[/red] {', '.join(sorted(unknown))} (run `labkit gaps` to list them)"
            )
            raise typer.Exit(2)
        who = by or getpass.getuser()
        done = sum(g.acknowledge(table, x, who, note, t.now_ms()) for x in found if gap_id(x) in wanted)
        console.print(f"{done} gap(s) acknowledged by {who}")
        found = sorted(g.all_gaps(table), key=lambda x: (x["instance_id"], x["from_ms"]))
    if as_json:
        typer.echo(json.dumps([{"id": gap_id(x), **x} for x in found], default=str, indent=2))
        return
    if not found:
        console.print("no gaps recorded: every look could rule out files created and deleted unseen")
        return
    rows = Table("gap", "window (UTC)", "vanished first", "known lost", "events in it", "acknowledged", "why")
    for x in found:
        rows.add_row(
            gap_id(x),
            f"{_when(int(x['from_ms']))} .. {_when(int(x['to_ms']))}",
            ", ".join(str(f) for f in x.get("files", [])),
            f"at least {int(x.get('known_lost_bytes', 0)):,} B, rest unknown",
            f"{len(x.get('events', []))} ({g.event_bytes(x):,} B)",
            f"{x['acknowledged_by']}: {x.get('ack_note', '')}" if "acknowledged_at" in x else "[red]no[/red]",
            str(x.get("reason", "")),
        )
    console.print(rows)
