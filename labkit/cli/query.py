"""``labkit query`` and ``labkit search``: SQL over the audit archive, DuckDB locally or Athena on AWS.

Both take ``--target aws|local`` (default: LABKIT_TARGET, else local) and ``--format table|csv|json``.
The table is ``audit_events`` (columns: labkit.query.schema; partitions cluster, instance, date).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from labkit.cli.options import LabTargetOption, console, target_config
from labkit.extras import require

if TYPE_CHECKING:  # pandas is imported by the engine when a query runs, not by every labkit command
    from collections.abc import Callable

    import pandas as pd

    from labkit.config import LabConfig


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table (for people), csv or json.")]
InstanceOption = Annotated[
    str | None, typer.Option("--instance", help="Only this DB instance's partitions (default: all).")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC). Default: 7 days before --until.")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Last day, YYYY-MM-DD (UTC). Default: today.")
]


def query_cmd(
    sql: Annotated[
        str, typer.Argument(help='SQL over the table audit_events, e.g. "SELECT count(*) FROM audit_events".')
    ],
    target: LabTargetOption = None,
    output: FormatOption = OutputFormat.table,
    instance: InstanceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Run SQL over the archive. Locally --instance/--since/--until bound what is read (default: all of it); on AWS, write the partition predicates ("date", instance) in the SQL: Athena prunes by them."""
    config = target_config(target)
    _require_engine(config)
    from labkit.query import connect

    engine = connect(config)
    show(engine.sql(sql, instance=instance, since=since, until=until), output)


def search_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Database user.")] = None,
    operation: Annotated[
        str | None,
        typer.Option("--operation", help="CONNECT, FAILED_CONNECT, QUERY, QUERY_DDL, QUERY_DCL, READ..."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    instance: InstanceOption = None,
    client_host: Annotated[str | None, typer.Option("--client-host", help="Client host or address.")] = None,
    target: LabTargetOption = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Audit events matching every filter given, in time order. QUERY_DDL/QUERY_DCL/QUERY_DML also match QUERY events of that kind (MariaDB and RDS write QUERY for all statements)."""
    config = target_config(target)
    _require_engine(config)
    from labkit.query import search

    frame = search(
        config,
        user=user,
        operation=operation,
        since=since,
        until=until,
        instance=instance,
        client_host=client_host,
    )
    show(frame, output)


def show(frame: pd.DataFrame, output: OutputFormat) -> None:
    isna = require("pandas").isna
    if output is OutputFormat.csv:
        frame.to_csv(sys.stdout, index=False)
    elif output is OutputFormat.json:
        typer.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        table = Table(*map(str, frame.columns))
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v, isna) for v in row))
        console.print(table)
        console.print(f"{len(frame)} row{'s' if len(frame) != 1 else ''}")


def _require_engine(config: LabConfig) -> None:
    """pandas for the frames, and DuckDB when the archive is read here (Athena reads it on aws)."""
    require("pandas")
    if config.target == "local":
        require("duckdb")


def _cell(value: object, isna: Callable[[object], bool], width: int = 200) -> str:
    """A table cell: long statements cut (csv and json keep them whole)."""
    if value is None or (not isinstance(value, (list, tuple)) and isna(value)):
        return ""
    text = str(value)
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"
