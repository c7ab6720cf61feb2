"""``labkit lab`` and ``labkit notebooks run``: the whole-lab runs behind ``make lab`` and ``make notebooks``."""

from __future__ import annotations

from typing import Annotated

import typer

from labkit.cli.options import console, current_config, err
from labkit.config import load_config
from labkit.extras import require


def lab_main(
    duration: Annotated[int, typer.Option(help="Seconds of sysbench traffic (the lab keeps it short).")] = 30,
    out: Annotated[str, typer.Option(help="Folder for summary.json and the backup-state chart.")] = "out",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print summary.json on stdout (the steps go to stderr), for scripts."),
    ] = False,
) -> None:
    """The whole lab on this machine: up, deploy, traffic, pipeline catch-up, reconciliation, down.

    This is what `make lab` runs. Exits 1 when the reconciliation finds missing or duplicated bytes.
    """
    from pathlib import Path

    require("matplotlib")  # the backup-state chart
    from labkit.ops.lab import run_lab

    report = run_lab(
        current_config(), duration_s=duration, out_dir=Path(out), console=err if as_json else console
    )
    if as_json:
        typer.echo((Path(out) / "summary.json").read_text())
    if not report.clean:
        raise typer.Exit(1)


notebooks_app = typer.Typer(help="The workbook: numbered notebooks in notebooks/.", no_args_is_help=True)


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

    This is what `make notebooks` runs. The lab is brought up first and down at the end if this run started it. A failing cell stops the run and names the notebook and the cell (exit 1).
    """
    from pathlib import Path

    require("papermill")
    require("pandas")  # labkit.workbook, which sets the lab up for the notebooks
    from labkit.workbook.run import NotebookFailedError, run_workbook

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
