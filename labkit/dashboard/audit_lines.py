"""Audit log lines -> events, for both formats the backups hold (see REFERENCE.md):

Aurora MySQL:  ``1703817810074458,host,user,client,conn,query,QUERY,db,'SELECT \\'a,b\\'',0``
               (Unix time in microseconds)
MariaDB / RDS: ``20261126 15:29:21,host,user,client,conn,query,QUERY,db,'BEGIN',0``
               (``YYYYMMDD HH:MM:SS``; RDS for MySQL may add fields after the return code)

The object is SQL in single quotes (the plugin escapes ``'`` and ``\\`` with a backslash and writes a newline
as ``\\n``), a table name for TABLE events (READ/WRITE/CREATE/ALTER/RENAME/DROP, whose return code is empty),
or empty for connections. Commas inside the SQL are why a CSV split cannot be used. MariaDB writes its
server's local time; RDS and Aurora servers run in UTC, which is what the parser assumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pandas as pd

from labkit.query.schema import COLUMNS, LINE_PATTERN, VERB_PATTERN, VERB_SCOPE

CONNECTION_OPERATIONS = ("CONNECT", "DISCONNECT", "FAILED_CONNECT")
TABLE_OPERATIONS = {
    "READ": "SELECT",
    "WRITE": "DML",
    "CREATE": "DDL",
    "ALTER": "DDL",
    "RENAME": "DDL",
    "DROP": "DDL",
}
CATEGORIES = ("CONNECT", "DISCONNECT", "FAILED_CONNECT", "DDL", "DCL", "DML", "SELECT", "OTHER")
EVENT_COLUMNS = [
    "timestamp",
    "server_host",
    "user",
    "host",
    "connection_id",
    "query_id",
    "operation",
    "database",
    "object",
    "retcode",
    "category",
    "extra",
]
# one pattern for every reader: Athena's RegexSerDe, DuckDB and this parser (labkit.query.schema)
_LINE = re.compile(LINE_PATTERN)
_GROUP = {column.name: index for index, column in enumerate(COLUMNS, start=1)}
_MARIADB_TIME = re.compile(r"\d{8} \d{2}:\d{2}:\d{2}")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}
_VERB = re.compile(VERB_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# one parsed line, in EVENT_COLUMNS order
Fields = tuple[
    datetime, str, str, str, int | None, int | None, str, str, str, int | None, str, tuple[str, ...]
]


@dataclass(frozen=True)
class AuditEvent:
    timestamp: datetime
    server_host: str
    user: str
    host: str
    connection_id: int | None
    query_id: int | None
    operation: str
    database: str
    object: str  # SQL text (unescaped), table name, or ""
    retcode: int | None  # None when the line has none (TABLE events)
    extra: tuple[str, ...] = ()  # fields after the return code (RDS for MySQL)

    @property
    def category(self) -> str:
        return categorize(self.operation, self.object)


def parse_line(line: str) -> AuditEvent | None:
    """One audit line -> an event, or None for a blank or malformed line."""
    fields = _fields(line)
    if fields is None:
        return None
    return AuditEvent(*fields[:10], extra=fields[11])


def parse_lines(text: str | bytes | Iterable[str]) -> pd.DataFrame:
    """Many lines (a file's text, bytes, or an iterable of lines) -> one row per event; bad lines are skipped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # a line ends at \n only (the server escapes newlines in statements; other characters str.splitlines
    # would cut at, \x0b, \x1c, U+2028..., can stand inside SQL)
    lines = text.removesuffix("\n").split("\n") if isinstance(text, str) else text
    rows = [fields for fields in map(_fields, lines) if fields is not None]
    return events_frame(rows)


def events_frame(rows: list[Fields]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for column in ("connection_id", "query_id", "retcode"):
        frame[column] = frame[column].astype("Int64")
    return frame


def categorize(operation: str, sql: str) -> str:
    """CONNECT/DISCONNECT/FAILED_CONNECT, DDL, DCL, DML, SELECT or OTHER, from the operation and SQL verb."""
    if operation in CONNECTION_OPERATIONS:
        return operation
    if operation in TABLE_OPERATIONS:
        return TABLE_OPERATIONS[operation]
    if not operation.startswith("QUERY"):
        return "OTHER"
    match = _VERB.match(sql[:VERB_SCOPE])
    if not match:
        return "OTHER"
    return _category_of(match[1].upper(), (match[2] or "").upper())


@lru_cache(maxsize=256)
def _category_of(verb: str, noun: str) -> str:
    if verb in ("GRANT", "REVOKE") or (verb == "SET" and noun in ("PASSWORD", "DEFAULT")):
        return "DCL"
    if verb in ("CREATE", "ALTER", "DROP", "RENAME"):
        return "DCL" if noun in ("USER", "ROLE") else "DDL"
    if verb == "TRUNCATE":
        return "DDL"
    if verb in ("INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD", "MERGE"):
        return "DML"
    if verb in ("SELECT", "WITH"):
        return "SELECT"
    return "OTHER"


def _fields(line: str) -> Fields | None:
    match = _LINE.fullmatch(line.rstrip("\r\n"))
    if match is None or not match[_GROUP["operation"]]:
        return None  # the pattern's fallback branch: not an event line
    timestamp = parse_timestamp(match[_GROUP["event_ts"]])
    if timestamp is None:
        return None
    raw_object = match[_GROUP["object"]]
    if raw_object.startswith("'"):  # quoted: without the quotes (no closing one on a cut line), unescaped
        closed = len(raw_object) >= 2 and raw_object.endswith("'")
        obj = _unescape(raw_object[1:-1] if closed else raw_object[1:])
    else:
        obj = raw_object
    ret = match[_GROUP["retcode"]]
    extra = match[_GROUP["extra"]]
    conn, qid = match[_GROUP["connection_id"]], match[_GROUP["query_id"]]
    operation = match[_GROUP["operation"]]
    return (
        timestamp,
        match[_GROUP["server_host"]],
        match[_GROUP["username"]],
        match[_GROUP["client_host"]],
        int(conn) if conn else None,
        int(qid) if qid else None,
        operation,
        match[_GROUP["database_name"]],
        obj,
        int(ret) if ret and ret.lstrip("-").isdigit() else None,
        categorize(operation, obj),
        tuple(extra.split(",")) if extra else (),
    )


def parse_timestamp(raw: str) -> datetime | None:
    """Aurora's epoch microseconds (or ms/s by length) or MariaDB's ``YYYYMMDD HH:MM:SS``, as UTC."""
    if raw.isdigit():
        value = int(raw)
        if len(raw) >= 15:
            return _EPOCH + timedelta(microseconds=value)
        if len(raw) >= 12:
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    return _mariadb_time(raw)


@lru_cache(maxsize=4096)
def _mariadb_time(raw: str) -> datetime | None:
    if not _MARIADB_TIME.fullmatch(raw):
        return None
    try:
        return datetime(
            int(raw[0:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[9:11]),
            int(raw[12:14]),
            int(raw[15:17]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[1]), text)
