"""The ``labkit`` typer app and ``main``, the console script.

Commands are registered here, one line each, in the order ``labkit --help`` lists them; their code lives in
one module per command group. ``main`` turns a LabkitError into one red line on stderr and exit 2.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from labkit.cli import alarms, check, gaps, lab, local, ops, query, traffic, verify
from labkit.cli.options import err
from labkit.errors import LabkitError

app = typer.Typer(
    help="Back up Aurora MySQL audit logs to S3 - and run the whole lab on this machine, no AWS account needed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command("lab")(lab.lab_main)
app.command("verify")(verify.verify_backups)
app.command("manifest")(verify.manifest_write)
app.command("alarms")(alarms.alarms_check)
app.command("retry-failed")(alarms.retry_failed_files)
app.command("deploy")(ops.deploy_cmd)
app.command("destroy")(ops.destroy_cmd)
app.command("status")(ops.status_cmd)
app.command("scan")(ops.scan_cmd)
app.command("check")(check.check_cmd)
app.command("query")(query.query_cmd)
app.command("search")(query.search_cmd)
app.command("gaps")(gaps.gaps_cmd)

app.add_typer(local.local_app, name="local")
app.add_typer(traffic.traffic_app, name="traffic")
app.add_typer(lab.notebooks_app, name="notebooks")


def main() -> None:
    try:
        app()
    except LabkitError as exc:
        err.print("[red]error:[/red]", escape(str(exc)))  # escaped: "labkit[lab]" is not markup
        raise SystemExit(2) from exc
