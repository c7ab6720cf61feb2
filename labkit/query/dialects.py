"""Where DuckDB's SQL and Athena's (Trino) differ, once: the derived event columns every query reads.

Both engines expose the table ``audit_events`` with the regex columns of :mod:`labkit.query.schema` and
the partition columns (the local one also stores the derived columns, see :func:`derive`). Queries never
read it directly: they read the ``events`` CTE built here, whose columns are the same on both engines:

``event_time`` (TIMESTAMP, UTC), ``server_host``, ``username``, ``client_host``, ``connection_id``,
``query_id``, ``operation``, ``database_name``, ``object`` (unquoted and unescaped SQL text, or a table name),
``category`` (CONNECT/DISCONNECT/FAILED_CONNECT/DDL/DCL/DML/SELECT/OTHER), ``retcode``, ``extra``,
``parse_ok`` (false for a line the pattern could not read; such a line keeps ``line`` and its partition),
``line``, ``source_key`` (s3://bucket/key of the part) and the partition columns.

The functions used are in both engines unless a branch below says otherwise (regexp_extract, replace,
upper, substr, length, CASE, CAST); the differences are: epoch -> timestamp, text -> timestamp,
regexp_matches vs regexp_like, regexp_replace's group reference (``\\1`` vs ``$1``), the missing-group value ('' vs NULL) and the source
file pseudo-column (``"$path"`` on Athena).

Unescaping follows the server's escapes (``\\'``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\0``, any other
``\\x`` -> ``x``) in one left-to-right pass, done in SQL with a placeholder character for an escaped
backslash: U+E000 (private use) inside the SQL text itself would come back as a backslash.
"""

from __future__ import annotations

from typing import Literal

from labkit.query.errors import QueryError
from labkit.query.schema import COLUMN_NAMES, PARTITION_COLUMNS, VERB_PATTERN, VERB_SCOPE

Dialect = Literal["duckdb", "athena"]
DIALECTS: tuple[str, ...] = ("duckdb", "athena")
_HOLD = "\ue000"


def check_dialect(dialect: str) -> Dialect:
    if dialect not in DIALECTS:
        raise QueryError(f"unknown SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    return dialect  # type: ignore[return-value]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _group(dialect: Dialect, value: str, pattern: str, group: int = 1) -> str:
    """A group of ``pattern`` in ``value``, '' when it does not match (DuckDB's answer; Trino says NULL)."""
    expr = f"regexp_extract({value}, {_lit(pattern)}, {group})"
    return expr if dialect == "duckdb" else f"coalesce({expr}, '')"


def event_time(dialect: Dialect) -> str:
    """Epoch micro/milli/seconds by digit count (as labkit.dashboard.audit_lines), or YYYYMMDD HH:MM:SS."""
    ts = "event_ts"
    if dialect == "duckdb":
        epoch = {
            "us": f"make_timestamp(TRY_CAST({ts} AS BIGINT))",
            "ms": f"make_timestamp(TRY_CAST({ts} AS BIGINT) * 1000)",
            "s": f"make_timestamp(TRY_CAST({ts} AS BIGINT) * 1000000)",
        }
        text = f"try_strptime({ts}, '%Y%m%d %H:%M:%S')"
        digits = f"regexp_full_match({ts}, '[0-9]+')"
        matches = "regexp_matches"
    else:
        epoch = {
            "us": f"CAST(from_unixtime_nanos(TRY_CAST({ts} AS BIGINT) * 1000) AS timestamp(6))",
            "ms": f"CAST(from_unixtime_nanos(TRY_CAST({ts} AS BIGINT) * 1000000) AS timestamp(6))",
            "s": f"CAST(from_unixtime_nanos(TRY_CAST({ts} AS BIGINT) * 1000000000) AS timestamp(6))",
        }
        text = f"CAST(try(date_parse({ts}, '%Y%m%d %H:%i:%s')) AS timestamp(6))"
        digits = f"regexp_like({ts}, '^[0-9]+$')"
        matches = "regexp_like"
    return (
        f"CASE WHEN {digits} AND length({ts}) >= 15 THEN {epoch['us']}"
        f" WHEN {digits} AND length({ts}) >= 12 THEN {epoch['ms']}"
        f" WHEN {digits} THEN {epoch['s']}"
        f" WHEN {matches}({ts}, '^[0-9]{{8}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$') THEN {text} END"
    )


def object_text(dialect: Dialect) -> str:
    """The object unquoted and unescaped; a bare name as is."""
    inner = (
        "CASE WHEN length(object) >= 2 AND substr(object, length(object), 1) = ''''"
        " THEN substr(object, 2, length(object) - 2) ELSE substr(object, 2) END"
    )
    group_ref = r"\1" if dialect == "duckdb" else "$1"
    flags = ", 'g'" if dialect == "duckdb" else ""
    text = f"replace({inner}, '\\\\', '{_HOLD}')"
    for escape, char in (("n", "chr(10)"), ("r", "chr(13)"), ("t", "chr(9)"), ("0", "chr(0)")):
        text = f"replace({text}, '\\{escape}', {char})"
    text = f"regexp_replace({text}, '\\\\(.)', '{group_ref}'{flags})"
    text = f"replace({text}, '{_HOLD}', '\\')"
    # most statements hold no escape at all: they skip the six passes over their text
    return (
        f"CASE WHEN substr(object, 1, 1) <> '''' THEN object WHEN strpos(object, '\\') = 0 THEN {inner}"
        f" ELSE {text} END"
    )


def words(dialect: Dialect, obj: str = "object_sql") -> tuple[str, str]:
    """The statement's verb and the word after it, upper-cased ('' unless the operation is a QUERY*): the
    two columns :func:`category` reads, computed once per row (a CASE repeats what it names)."""
    head = f"substr({obj}, 1, {VERB_SCOPE})"
    query = "substr(operation, 1, 5) = 'QUERY'"
    verb = f"CASE WHEN {query} THEN upper({_group(dialect, head, VERB_PATTERN, 1)}) ELSE '' END"
    noun = f"CASE WHEN {query} THEN upper({_group(dialect, head, VERB_PATTERN, 2)}) ELSE '' END"
    return verb, noun


def category(verb: str = "verb", noun: str = "noun") -> str:
    """labkit.dashboard.audit_lines.categorize in SQL (the same in both dialects), from :func:`words`."""
    return (
        "CASE WHEN operation IN ('CONNECT', 'DISCONNECT', 'FAILED_CONNECT') THEN operation"
        " WHEN operation = 'READ' THEN 'SELECT' WHEN operation = 'WRITE' THEN 'DML'"
        " WHEN operation IN ('CREATE', 'ALTER', 'RENAME', 'DROP') THEN 'DDL'"
        " WHEN substr(operation, 1, 5) <> 'QUERY' THEN 'OTHER'"
        f" WHEN {verb} IN ('GRANT', 'REVOKE') THEN 'DCL'"
        f" WHEN {verb} = 'SET' AND {noun} IN ('PASSWORD', 'DEFAULT') THEN 'DCL'"
        f" WHEN {verb} IN ('CREATE', 'ALTER', 'DROP', 'RENAME') AND {noun} IN ('USER', 'ROLE') THEN 'DCL'"
        f" WHEN {verb} IN ('CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE') THEN 'DDL'"
        f" WHEN {verb} IN ('INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'LOAD', 'MERGE') THEN 'DML'"
        f" WHEN {verb} IN ('SELECT', 'WITH') THEN 'SELECT' ELSE 'OTHER' END"
    )


def source_key(dialect: Dialect) -> str:
    return "source_key" if dialect == "duckdb" else '"$path"'


RAW_COLUMNS: tuple[str, ...] = (*COLUMN_NAMES, "source_key", *(f'"{c}"' for c in PARTITION_COLUMNS))
DERIVED_COLUMNS: dict[str, str] = {  # name -> DuckDB type, in derive()'s order
    "event_time": "TIMESTAMP",
    "object_sql": "VARCHAR",
    "category": "VARCHAR",
    "parse_ok": "BOOLEAN",
}


def raw_select(dialect: Dialect, table: str, where: str) -> str:
    """The table's columns (operation '' where the line did not parse, as DuckDB has it) and the part's key."""
    fields = [
        "coalesce(operation, '') AS operation" if name == "operation" and dialect == "athena" else name
        for name in COLUMN_NAMES
    ]
    partitions = ", ".join(RAW_COLUMNS[len(COLUMN_NAMES) + 1 :])
    return f"SELECT {', '.join(fields)}, {source_key(dialect)} AS source_key, {partitions} FROM {table} WHERE {where}"


def derive(dialect: Dialect, source: str, extra: tuple[str, ...] = ()) -> str:
    """``source``'s RAW_COLUMNS plus DERIVED_COLUMNS, in layers so each expression is computed once a row.

    Athena computes them in every query; the local engine once, as it loads lines (DuckDB inlines a
    filter on ``category`` into the regex calls below, which made a query 10x slower than the load).
    ``extra`` columns of ``source`` are passed through."""
    base = ", ".join((*RAW_COLUMNS, *extra))
    scan = f"SELECT {base}, ({event_time(dialect)}) AS event_time, ({object_text(dialect)}) AS object_sql FROM ({source}) raw"
    verb, noun = words(dialect)
    worded = f"SELECT {base}, event_time, object_sql, ({verb}) AS verb, ({noun}) AS noun FROM ({scan}) parsed"
    return (
        f"SELECT {base}, event_time, object_sql, ({category()}) AS category,"
        f" (event_time IS NOT NULL AND operation <> '') AS parse_ok FROM ({worded}) worded"
    )


def events_select(dialect: Dialect, table: str, where: str) -> str:
    """``SELECT <the events columns> FROM <table> WHERE <where>``: a query's ``events`` CTE. On DuckDB the
    table already holds the derived columns (see :func:`derive`)."""
    dialect = check_dialect(dialect)
    if dialect == "duckdb":
        source = f"SELECT * FROM {table} WHERE {where}"
    else:
        source = derive(dialect, raw_select(dialect, table, where))
    partitions = ", ".join(RAW_COLUMNS[len(COLUMN_NAMES) + 1 :])
    return (
        "SELECT event_time, server_host, username, client_host, connection_id, query_id, operation,"
        " database_name, object_sql AS object, category, retcode, extra, parse_ok, line, source_key,"
        f" {partitions} FROM ({source}) stored"
    )
