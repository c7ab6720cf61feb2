"""The audit line as columns, once, for Athena's RegexSerDe, DuckDB's ``regexp_extract`` and Python.

``LINE_PATTERN`` is one regular expression in the subset Java (RegexSerDe's ``input.regex``, which must
match the whole line) and RE2 (DuckDB) share: no lookaround, no backreferences, no possessive quantifiers,
``(?s)`` so ``.`` matches what Java would otherwise treat as a line end (``\\r``, U+2028...). It matches
*every* line: group 1 is the whole line; the event's fields come from the first branch of an alternation
whose second branch (``.*``) takes what the first cannot read, so a malformed line is a row whose
``operation`` is empty (NULL in Athena, '' in DuckDB) — counted and queryable, never dropped.

Field branch (see labkit/dashboard/audit_lines.py for the formats)::

    timestamp,serverhost,username,host,connectionid,queryid,operation,database,object[,retcode[,extra...]]

``object`` keeps its quotes and backslash escapes as the server wrote them (a regex cannot unescape);
:mod:`labkit.query.dialects` strips and unescapes it: the leading quote, and the last character when it is
a quote (a closing one: a cut line ending in a quote would have matched as closed). A quoted object
without its closing quote (a line cut short) still parses, like the Python parser's truncated lines.

Partition columns come from :mod:`labkit.backup.layout` (the one source of truth for the S3 layout): the
names are read off a key the layout itself builds, so a renamed segment renames the column here.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.backup.layout import PartKey
from labkit.config import LabConfig

TABLE_NAME = "audit_events"


@dataclass(frozen=True)
class Column:
    name: str
    athena_type: str  # Glue/Hive type of the RegexSerDe column
    duckdb_type: str  # what the local engine TRY_CASTs the extracted text to
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("line", "string", "VARCHAR", "the whole line as read (non-UTF-8 bytes as U+FFFD)"),
    Column(
        "event_ts",
        "string",
        "VARCHAR",
        "timestamp as written: epoch microseconds (Aurora) or YYYYMMDD HH:MM:SS (MariaDB)",
    ),
    Column("server_host", "string", "VARCHAR", "the database server's host name"),
    Column("username", "string", "VARCHAR", "the database user"),
    Column("client_host", "string", "VARCHAR", "the client's host or address"),
    Column("connection_id", "bigint", "BIGINT", "connection (session) id"),
    Column("query_id", "bigint", "BIGINT", "query id"),
    Column(
        "operation",
        "string",
        "VARCHAR",
        "CONNECT, QUERY, QUERY_DDL, READ, FAILED_CONNECT...; empty when the line did not parse",
    ),
    Column("database_name", "string", "VARCHAR", "the default database"),
    Column(
        "object",
        "string",
        "VARCHAR",
        "SQL text in single quotes with backslash escapes, a table name, or empty, exactly as written",
    ),
    Column("retcode", "int", "INTEGER", "MySQL error number (0 = success); NULL when absent"),
    Column("extra", "string", "VARCHAR", "fields after the return code (RDS for MySQL), comma-separated"),
)

_FIELD = r"([^,]*)"
_NUMBER = r"([0-9]*)"
# The object: quoted up to the last quote that a valid tail (",retcode[,extra]" or the line's end)
# follows; else quoted to the end of a cut line; else a bare name. Not the escape grammar
# ('(?:[^'\\]|\\.)*'): Java's regex recurses once per repetition of a group, and a 2 MB statement with
# 100,000 escapes overflowed its stack (tests/unit/test_query_pattern_java.py); a greedy ``.*`` backs off
# in a loop. What the server writes parses the same either way: the quotes inside are all escaped.
_OBJECT = r"('.*'|'.*|[^,']*)"
_RETCODE = r"(-?[0-9]*)"
_EVENT = (
    ",".join([_FIELD, _FIELD, _FIELD, _FIELD, _NUMBER, _NUMBER, r"([A-Z_]+)", _FIELD, _OBJECT])
    + r"(?:,"
    + _RETCODE
    + r"(?:,(.*))?)?"
)
LINE_PATTERN = r"(?s)((?:" + _EVENT + r")|.*)"

# The statement's verb (group 1) and the word after it (group 2), after blanks, comments and opening
# parentheses: what decides an event's category (labkit.dashboard.audit_lines.categorize and its SQL twin
# in labkit.query.dialects), applied to the first 400 characters. ASCII classes only, so Python, RE2 and
# Java agree on what a blank and a word are.
_BLANK = r"[ \t\n\r\f\x0B]"
VERB_PATTERN = (
    rf"(?s)^{_BLANK}*(?:(?:/\*.*?\*/|--[^\n]*\n?|#[^\n]*\n?){_BLANK}*)*[( \t\n\r\f\x0B]*"
    rf"([A-Za-z0-9_]+)(?:{_BLANK}+([A-Za-z0-9_]+))?"
)
VERB_SCOPE = 400


def _partition_names() -> tuple[str, ...]:
    sample = PartKey("p", "c", "i", "2000-01-01", "f").file_prefix
    return tuple(segment.split("=", 1)[0] for segment in sample.split("/") if "=" in segment)


PARTITION_COLUMNS: tuple[str, ...] = _partition_names()  # ("cluster", "instance", "date")
PARTITION_TYPES = {"cluster": "string", "instance": "string", "date": "string"}

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)


@dataclass(frozen=True)
class AthenaNames:
    database: str  # Glue database (letters, digits, underscores)
    table: str
    workgroup: str


def athena_names(config: LabConfig) -> AthenaNames:
    """The Glue database, table and Athena workgroup of the lab, as LabConfig names them for the stack."""
    return AthenaNames(database=config.glue_database, table=TABLE_NAME, workgroup=config.athena_workgroup)
