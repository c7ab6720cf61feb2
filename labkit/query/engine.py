"""What both query engines share: :class:`Engine` (``sql``, ``run``), :func:`connect`, :func:`cache_path`.

A saved query is rendered once for the engine's dialect (:mod:`labkit.query.queries`) and run the same way on
both backends; only how the archive becomes queryable and how SQL is executed differ, and each backend has its
own module: :mod:`labkit.query.duckdb_engine` (DuckDB over the emulator's bucket, local) and
:mod:`labkit.query.athena_engine` (Amazon Athena, aws). :func:`connect` is the one place that picks between
them, from ``config.target``, and imports the chosen backend only when called: this module needs neither
pandas nor DuckDB, so the CLI can import the package without the notebook extras.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit import aws
from labkit.config import LabConfig
from labkit.query.queries import saved_query
from labkit.query.schema import athena_names

if TYPE_CHECKING:
    import pandas as pd


class Engine:
    """One query engine over the backup archive; ``dialect`` is "duckdb" or "athena"."""

    dialect = "duckdb"

    def sql(
        self,
        sql: str,
        *,
        instance: str | None = None,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> pd.DataFrame:
        """Any SQL over ``audit_events``. The scope (instance, dates) bounds what the local engine reads
        first (default: everything); on Athena the statement's own WHERE prunes, and the scope is unused."""
        raise NotImplementedError

    def run(self, name: str, **params: Any) -> pd.DataFrame:
        """A saved query (labkit.query.queries.QUERIES) with its parameters."""
        query = saved_query(name)
        params = self._scope(dict(params))
        rendered = query.render(self.dialect, **params)
        self._prepare({**query.defaults, **params})
        return self._execute(rendered)

    def _scope(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters with what this engine must have filled in (Athena: the instances)."""
        return params

    def _prepare(self, params: dict[str, Any]) -> None:
        """Make the partitions ``params`` select queryable (local: load them)."""

    def _execute(self, sql: str) -> pd.DataFrame:
        return self.sql(sql)


def connect(config: LabConfig) -> Engine:
    """DuckDB over the emulator's bucket on the local target; Athena in the lab's workgroup on aws."""
    if config.target == "aws":
        from labkit.query.athena_engine import AthenaEngine

        names = athena_names(config)
        return AthenaEngine(
            aws.client("athena", config),
            names.workgroup,
            names.database,
            instances=(config.writer_id, config.reader_id),
        )
    from labkit.query.duckdb_engine import DuckDBEngine

    return DuckDBEngine(
        aws.client("s3", config),
        config.names.bucket,
        config.log_prefix,
        memory_mb=config.query_memory_mb,
        cache=cache_path(config),
    )


def cache_path(config: LabConfig) -> Path:
    """Where the local engine keeps the parsed archive between runs: one DuckDB file per bucket and prefix,
    in the lab's state directory."""
    digest = hashlib.sha256(f"{config.names.bucket}/{config.log_prefix}".encode()).hexdigest()[:16]
    return Path(config.state_dir) / "query-cache" / f"archive-{digest}.duckdb"
