"""Notebook 85's steps: search the backup archive with SQL, through DuckDB locally or Athena on AWS.

Each function is one cell: open the archive (the engine of the target), list the saved queries, run one,
search with filters, run any SQL, and summarise what the archive holds for a headless run to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.dashboard.tables import Table, audit_table, table
from labkit.workbook.common import workbook_config

if TYPE_CHECKING:
    from labkit.config import LabConfig
    from labkit.query import Engine


@dataclass(frozen=True)
class Archive:
    """A target's backup archive and the engine that queries it."""

    config: LabConfig
    engine: Engine

    def _repr_html_(self) -> str:
        where = f"s3://{self.config.names.bucket}/{self.config.log_prefix}/"
        engine = "DuckDB (parts read through boto3)" if self.engine.dialect == "duckdb" else "Amazon Athena"
        return f"<p>Archive <code>{where}</code> on the <b>{self.config.target}</b> target, queried by {engine}.</p>"

    def __repr__(self) -> str:
        engine = "DuckDB" if self.engine.dialect == "duckdb" else "Amazon Athena"
        return f"Archive s3://{self.config.names.bucket}/{self.config.log_prefix}/ ({self.config.target}), {engine}"


def open_archive(target: str = "local") -> Archive:
    """The engine for ``target``: DuckDB over the local emulator's bucket, or the lab's Athena workgroup."""
    from labkit.query import connect

    config = workbook_config(target)
    return Archive(config, connect(config))


def saved_queries() -> Table:
    """The saved questions (the same SQL on both engines) and the parameters each takes."""
    from labkit.query import QUERIES

    rows = [
        {"name": q.name, "parameters": ", ".join(q.parameters), "description": q.description}
        for q in QUERIES.values()
    ]
    return table(pd.DataFrame(rows), title=f"{len(rows)} saved queries")


def run_saved_query(archive: Archive, name: str, **params: Any) -> Table:
    """One saved query; empty parameters ('') mean "any" (dates: the last week). ``.frame``: every row."""
    rows = archive.engine.run(name, **{k: v for k, v in params.items() if v not in ("", None)})
    return audit_table(rows, f"{name}: {len(rows):,} row(s)")


def search_archive(
    archive: Archive,
    user: str = "",
    operation: str = "",
    since: date | str = "",
    until: date | str = "",
    instance: str = "",
    client_host: str = "",
) -> Table:
    """Events matching every filter given, in time order: ``labkit search`` in a cell."""
    from labkit.query import search

    found = search(
        archive.config,
        user=user,
        operation=operation,
        since=since,
        until=until,
        instance=instance,
        client_host=client_host,
        engine=archive.engine,
    )
    return audit_table(found, f"{len(found):,} event(s) found")


def query_archive(archive: Archive, sql: str) -> Table:
    """Any SQL over ``audit_events`` (locally every partition is read first: prefer the saved queries)."""
    rows = archive.engine.sql(sql)
    return audit_table(rows, f"{len(rows):,} row(s)")


def archive_summary(archive: Archive, since: date | str = "", until: date | str = "") -> dict[str, Any]:
    """What the window holds, for the record: events per operation, failed logins, DDL/DCL statements and
    unparsed lines (engine counts), and how many parts and gzip bytes the whole archive has (a listing)."""
    from labkit import aws
    from labkit.dashboard.state import list_part_objects

    window = {k: v for k, v in (("since", since), ("until", until)) if v}
    per_operation = archive.engine.run("events_per_operation", bucket="day", **window)
    counts = pd.to_numeric(per_operation["events"]).groupby(per_operation["operation"]).sum()
    s3 = aws.client("s3", archive.config)
    parts = list(list_part_objects(s3, archive.config.names.bucket, f"{archive.config.log_prefix}/"))
    return {
        "events": int(counts.sum()),
        "events_per_operation": {str(k): int(v) for k, v in counts.items()},
        "failed_logins": len(archive.engine.run("failed_logins", **window)),
        "ddl_dcl_statements": len(archive.engine.run("ddl_dcl_by_user", **window)),
        "unparsed_lines": len(archive.engine.run("unparsed_lines", **window)),
        "parts": len(parts),
        "part_bytes": sum(int(p["Size"]) for p in parts),
    }


__all__ = [
    "Archive",
    "archive_summary",
    "open_archive",
    "query_archive",
    "run_saved_query",
    "saved_queries",
    "search_archive",
]
