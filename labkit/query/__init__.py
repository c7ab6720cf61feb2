"""Search the audit archive with SQL: DuckDB locally, Amazon Athena on AWS, one query set for both.

API (names are stable; the notebook, the dashboards, the bench and the Athena stack build on them)::

    from labkit.query import connect, search, QUERIES
    engine = connect(config)                  # DuckDB over the emulator's bucket (local) or Athena (aws)
    engine.sql("SELECT count(*) FROM audit_events")            # -> pandas.DataFrame
    engine.run("failed_logins", instance="lab-writer", since="2026-12-01", until="2026-12-04")
    search(config, user="app", operation="QUERY_DDL", since="2026-12-01", instance="lab-writer")

- :mod:`labkit.query.schema`: ``LINE_PATTERN`` (one regex, Java and RE2), ``COLUMNS`` (one per group),
  ``PARTITION_COLUMNS`` (from labkit.backup.layout), ``TABLE_NAME``, ``athena_names(config)``.
- :mod:`labkit.query.queries`: ``QUERIES`` (name -> ``SavedQuery``: ``render(dialect, **params)``,
  ``render_named()`` for Athena named queries with ``?`` parameters). Every query prunes by date and instance.
- :mod:`labkit.query.dialects`: the ``events`` columns every query reads, where DuckDB and Athena differ.
- :mod:`labkit.query.engine`: what both backends share: ``Engine`` (``sql``, ``run``), ``connect``,
  ``cache_path``.
- :mod:`labkit.query.duckdb_engine`: ``DuckDBEngine`` (local: DuckDB over the emulator's bucket, the cache).
- :mod:`labkit.query.athena_engine`: ``AthenaEngine`` (aws: Athena in the lab's workgroup).

``Engine``, ``DuckDBEngine``, ``AthenaEngine`` and ``cache_path`` are exported here too, imported on first
use: importing this package needs neither pandas nor DuckDB (the CLI imports it without the notebook extras).

Saved query parameters: ``instance`` (an id or a list; None: all locally, the lab's writer and reader on
Athena, whose instance partition is injected), ``since``/``until`` (dates, UTC; default the last 7 days),
and per query ``user``, ``table``, ``client_host``, ``operation``, ``bucket``, ``limit``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from labkit.query.queries import QUERIES, SavedQuery

if TYPE_CHECKING:
    import pandas as pd

    from labkit.config import LabConfig
    from labkit.query.athena_engine import AthenaEngine
    from labkit.query.duckdb_engine import DuckDBEngine
    from labkit.query.engine import Engine, cache_path

__all__ = [
    "QUERIES",
    "AthenaEngine",
    "DuckDBEngine",
    "Engine",
    "SavedQuery",
    "cache_path",
    "connect",
    "search",
]

# loaded when first asked for (PEP 562): the backends import pandas, and the package stays as light as before
_LAZY = {
    "Engine": "labkit.query.engine",
    "cache_path": "labkit.query.engine",
    "DuckDBEngine": "labkit.query.duckdb_engine",
    "AthenaEngine": "labkit.query.athena_engine",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def connect(config: LabConfig) -> Engine:
    from labkit.query.engine import connect as _connect

    return _connect(config)


def search(
    config: LabConfig,
    user: str | None = None,
    operation: str | None = None,
    since: date | str | None = None,
    until: date | str | None = None,
    instance: str | None = None,
    client_host: str | None = None,
    *,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Events matching every filter given, in time order (the ``search`` saved query)."""
    params: dict[str, Any] = {"user": user, "operation": operation, "client_host": client_host}
    return (engine or connect(config)).run("search", since=since, until=until, instance=instance, **params)
