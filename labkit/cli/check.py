"""``labkit check --target aws``: the step after deploy, every promise of the lab proven on the account
(logic: labkit.ops.check). Prints a pass/fail table or ``--json``; exits 1 on any FAIL."""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labkit.cli.ops import StackOption
from labkit.cli.options import LabTargetOption, console, err, target_config
from labkit.config import LabConfig
from labkit.ops import DEFAULT_STACK, LockSettings, run_checks


def check_cmd(
    target: LabTargetOption = None,
    stack: StackOption = DEFAULT_STACK,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds each wait (copy, alarm action, query) lasts at most.")
    ] = 300.0,
    lock_days: Annotated[
        int | None,
        typer.Option(
            "--object-lock-days",
            help="Object Lock default retention the bucket must have (0: none). Default: the lab stack's "
            "objectLock output.",
            show_default=False,
        ),
    ] = None,
    lock_mode: Annotated[
        str, typer.Option("--object-lock-mode", help="GOVERNANCE or COMPLIANCE, with --object-lock-days.")
    ] = "GOVERNANCE",
    as_json: Annotated[bool, typer.Option("--json", help="Print every check as JSON.")] = False,
) -> None:
    """Prove the deployed lab on AWS: scan now and wait for a copy, then verify; a test notification through an alarm; the heartbeat metric; the RDS event subscription; one Athena query; the bucket's encryption, public-access block, TLS-only policy and Object Lock.

    It sets one alarm (the scanner heartbeat) to ALARM for a moment: whoever the alarm topic notifies gets a test notification. The local target is refused (nothing of this exists there). Exits 1 on any FAIL.
    """
    config = target_config(target)
    expected = (
        LockSettings(lock_days, lock_mode if lock_days else None)
        if lock_days is not None
        else _configured_lock(config, stack)
    )
    with nullcontext() if as_json else console.status("checking the deployed lab ..."):
        results = run_checks(config, expected_lock=expected, timeout_s=timeout)
    failed = [r for r in results if not r.ok]
    if as_json:
        typer.echo(json.dumps({"failed": len(failed), "checks": [r.as_dict() for r in results]}, indent=2))
    else:
        table = Table(
            "check", "result", "what was seen", "what to do", title=f"labkit check ({config.target})"
        )
        for r in results:
            colour = "green" if r.ok else "red"
            table.add_row(r.name, f"[{colour}]{r.status}[/{colour}]", escape(r.detail), escape(r.fix))
        console.print(table)
        console.print(
            f"[red]{len(failed)} check(s) failed[/red]" if failed else "[green]every check passed[/green]"
        )
    if failed:
        raise typer.Exit(1)


def _configured_lock(config: LabConfig, stack: str) -> LockSettings | None:
    """The lab stack's objectLock output, when pulumi can read it (None: the check says how to tell it)."""
    from labkit.errors import StackError
    from labkit.ops.stacks import LabStacks

    if config.target != "aws" or shutil.which("pulumi") is None:
        return None
    try:
        output = LabStacks(stack, config, on_output=None).outputs(["lab"])["lab"].get("objectLock")
    except StackError as exc:
        err.print(f"[yellow]note:[/yellow] {escape(str(exc))}")
        return None
    return LockSettings.from_output(output) if output else None
