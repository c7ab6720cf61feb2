"""``labkit alarms`` and ``labkit retry-failed``: the lab's alarm states on either target, and the one
remedy for the FilesFailed alarm once its cause is fixed (a FAILED file is otherwise never retried)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from labkit.alarms import DEFAULT_LAG_THRESHOLD_S
from labkit.cli.options import LabTargetOption, console, current_config, err, target_config


def alarms_check(
    target: LabTargetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every alarm's state as JSON.")] = False,
    lag_threshold: Annotated[
        float,
        typer.Option("--lag-threshold-seconds", help="BackupLag and iterator-age alarm threshold."),
    ] = DEFAULT_LAG_THRESHOLD_S,
) -> None:
    """The lab stack's alarms: CloudWatch's states (aws), or the same rules evaluated on the local lab.

    The same rules on both targets (labkit.alarms): files LOST or FAILED, backup lag, messages in the DLQ or the on-failure queue, function errors, and the scanner's heartbeat (a silent scanner is an alarm). On aws the thresholds are the deployed alarms' own. Exits 1 when any fires.
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


def retry_failed_files(
    instance: Annotated[
        list[str] | None, typer.Option("--instance", help="Only this instance (repeatable).")
    ] = None,
) -> None:
    """Try FAILED files again, once the cause is fixed (a FAILED sealed file is otherwise never retried)."""
    from labkit import aws
    from labkit.backup.retry import retry_failed

    config = current_config()
    table = aws.table(config)
    retried = retry_failed(table, instance or None)
    for pk, sk in retried:
        console.print(f"retrying {pk} {sk}")
    console.print(f"{len(retried)} FAILED file(s) handed back to the downloader")
