"""The saved questions, written once for both engines, and the search behind ``labkit search``.

Every query reads the ``events`` CTE of :mod:`labkit.query.dialects`, whose WHERE holds only partition
predicates (``date`` between since - 1 day and until, ``instance`` when given), so DuckDB lists and Athena
scans only those prefixes. The extra day: a file's parts sit under the date its file was first seen, so a
file started the day before ``since`` still holds events after it. Event times are then filtered exactly
(``since`` 00:00 to ``until`` + 1 day 00:00, UTC).

``SavedQuery.render(dialect, **params)`` inlines the values as SQL literals (quotes doubled, instance ids
and dates checked). ``SavedQuery.render_named()`` gives Athena's form for a named query: ``?`` execution
parameters and the parameter name each ``?`` stands for, in order (a name can repeat); optional text
filters take '' for "any".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from labkit.backup.errors import BadInputError
from labkit.backup.layout import check_identifier
from labkit.query.dialects import Dialect, check_dialect, events_select
from labkit.query.errors import QueryError
from labkit.query.schema import PARTITION_COLUMNS, TABLE_NAME

PARTITION_SLACK_DAYS = 1
DEFAULT_DAYS = 7  # since, when not given: a week back from until
BUCKETS = ("minute", "hour", "day")
_CLUSTER, _INSTANCE, _DATE = (f'"{name}"' for name in PARTITION_COLUMNS)
_TEXT_PARAMS = ("user", "operation", "table", "client_host")


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    body: str  # SQL over ``events``; {time} is the event-time filter, {user}/{table}/... parameter values
    required: tuple[str, ...] = ()  # text parameters the question cannot do without
    optional: tuple[str, ...] = ()  # text parameters that narrow it ('' or None: any)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("instance", "since", "until", *self.required, *self.optional)

    def render(self, dialect: str = "duckdb", *, from_table: str = TABLE_NAME, **params: Any) -> str:
        """SQL with the values inlined, for ``dialect`` ("duckdb" or "athena")."""
        unknown = set(params) - set(self.parameters) - set(self.defaults)
        if unknown:
            raise QueryError(
                f"query {self.name!r} takes no parameter {', '.join(sorted(unknown))}: "
                f"it takes {', '.join(self.parameters)}"
            )
        for name in self.required:
            if not params.get(name):
                raise QueryError(f"query {self.name!r} needs {name}=...")
        values = {**self.defaults, **params}
        return _render(self, check_dialect(dialect), from_table, _Literals(values))

    def render_named(self, from_table: str = TABLE_NAME) -> tuple[str, list[str]]:
        """Athena's named-query form: SQL with ``?`` and the parameter name of each ``?`` in order."""
        return _to_question_marks(_render(self, "athena", from_table, _Slots(self.defaults)))


def _render(query: SavedQuery, dialect: Dialect, table: str, values: _Values) -> str:
    where = f"{_DATE} BETWEEN {values.date_from()} AND {values.date('until')}"
    instance = values.instance()
    if instance is not None:
        where += (
            f" AND {_INSTANCE} {instance}"
            if instance.startswith("IN (")
            else f" AND {_INSTANCE} = {instance}"
        )
    time = f"event_time >= {values.time_from()} AND event_time < {values.time_to()}"
    fields = {name: values.text(name) for name in (*query.required, *query.optional)}
    fields |= {name: values.raw(name) for name in query.defaults}
    body = query.body.format(time=time, **fields)
    return f"WITH events AS ({events_select(dialect, table, where)})\n{body}"


class _Values(Protocol):
    def date_from(self) -> str: ...
    def date(self, name: str) -> str: ...
    def instance(self) -> str | None: ...
    def time_from(self) -> str: ...
    def time_to(self) -> str: ...
    def text(self, name: str) -> str: ...
    def raw(self, name: str) -> str: ...


def literal(text: str) -> str:
    """A SQL string literal, the same in both dialects (standard strings: only the quote is special)."""
    return "'" + str(text).replace("'", "''") + "'"


def as_date(value: date | str | None, default: date) -> date:
    if value is None or value == "":
        return default
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise QueryError(f"bad date {value!r}: write it as YYYY-MM-DD") from exc


class _Literals(_Values):
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.until = as_date(values.get("until"), datetime.now(UTC).date())
        self.since = as_date(values.get("since"), self.until - timedelta(days=DEFAULT_DAYS))
        if self.since > self.until:
            raise QueryError(f"since {self.since} is after until {self.until}: swap them")

    def date_from(self) -> str:
        return literal((self.since - timedelta(days=PARTITION_SLACK_DAYS)).isoformat())

    def date(self, name: str) -> str:
        return literal(self.until.isoformat())

    def instance(self) -> str | None:
        value = self.values.get("instance")
        if not value:
            return None
        try:
            if isinstance(value, str):
                return literal(check_identifier(value, "instance id"))
            return "IN (" + ", ".join(literal(check_identifier(v, "instance id")) for v in value) + ")"
        except BadInputError as exc:
            raise QueryError(str(exc)) from exc

    def time_from(self) -> str:
        return f"TIMESTAMP '{self.since.isoformat()} 00:00:00'"

    def time_to(self) -> str:
        return f"TIMESTAMP '{(self.until + timedelta(days=1)).isoformat()} 00:00:00'"

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return literal(value) if value else "''"

    def raw(self, name: str) -> str:
        return _raw(name, self.values[name])


class _Slots(_Values):
    """Marks each parameter where it lands; :func:`_to_question_marks` then numbers them in text order."""

    def __init__(self, defaults: Mapping[str, Any]) -> None:
        self.defaults = defaults

    def date_from(self) -> str:
        return f"CAST(date_add('day', -{PARTITION_SLACK_DAYS}, CAST({_mark('since')} AS date)) AS varchar)"

    def date(self, name: str) -> str:
        return _mark(name)

    def instance(self) -> str:
        return _mark("instance")

    def time_from(self) -> str:
        return f"CAST({_mark('since')} AS timestamp)"

    def time_to(self) -> str:
        return f"date_add('day', 1, CAST({_mark('until')} AS timestamp))"

    def text(self, name: str) -> str:
        return _mark(name)

    def raw(self, name: str) -> str:
        return _raw(name, self.defaults[name])


_MARK = re.compile("\x00([a-z_]+)\x00")


def _mark(name: str) -> str:
    return f"\x00{name}\x00"


def _to_question_marks(sql: str) -> tuple[str, list[str]]:
    order = _MARK.findall(sql)
    return _MARK.sub("?", sql), order


def _raw(name: str, value: Any) -> str:
    """The few values inlined even in a named query: they shape the SQL, so they are checked here."""
    if name == "bucket" and value in BUCKETS:
        return str(value)
    if name == "limit" and str(value).isdigit() and int(value) > 0:
        return str(int(value))
    raise QueryError(f"bad {name} {value!r}: bucket is one of {', '.join(BUCKETS)}, limit a positive number")


def _optional(column: str, name: str) -> str:
    """``column = {name}`` unless the value is '' (any); a template fragment, formatted twice."""
    return f"({{{name}}} = '' OR {column} = {{{name}}})"


_COLUMNS = "event_time, instance, username, client_host, connection_id, operation, category, retcode, object"
_ORDER = "ORDER BY event_time, source_key, connection_id, query_id"

QUERIES: dict[str, SavedQuery] = {
    q.name: q
    for q in (
        SavedQuery(
            "failed_logins",
            "Failed logins: FAILED_CONNECT events and CONNECTs with a non-zero return code.",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND (operation = 'FAILED_CONNECT'"
            f" OR (operation = 'CONNECT' AND retcode <> 0)) {_ORDER}",
        ),
        SavedQuery(
            "ddl_dcl_by_user",
            "Schema (DDL) and privilege (DCL) changes, per user; user='' for every user.",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND category IN ('DDL', 'DCL')"
            f" AND {_optional('username', 'user')} ORDER BY username, event_time, source_key",
            optional=("user",),
        ),
        SavedQuery(
            "events_per_operation",
            "How many events of each operation, per hour (bucket: minute, hour or day).",
            "SELECT date_trunc('{bucket}', event_time) AS bucket, operation, count(*) AS events"
            " FROM events WHERE {time} GROUP BY 1, 2 ORDER BY 1, 2",
            defaults={"bucket": "hour"},
        ),
        SavedQuery(
            "top_users",
            "Users by number of events, most active first.",
            "SELECT username, count(*) AS events, count(DISTINCT connection_id) AS sessions"
            " FROM events WHERE {time} GROUP BY username ORDER BY events DESC, username LIMIT {limit}",
            defaults={"limit": 20},
        ),
        SavedQuery(
            "statements_touching_table",
            "Statements and table events whose text names the table (case-insensitive substring).",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND strpos(lower(object), lower({{table}})) > 0"
            f" {_ORDER}",
            required=("table",),
        ),
        SavedQuery(
            "session_timeline",
            "One user's sessions: every event, by connection, in time order.",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND username = {{user}}"
            " ORDER BY connection_id, event_time, query_id, source_key",
            required=("user",),
        ),
        SavedQuery(
            "client_host_activity",
            "Anything from this client host.",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND client_host = {{client_host}} {_ORDER}",
            required=("client_host",),
        ),
        SavedQuery(
            "unparsed_lines",
            "Lines the pattern could not read (kept, never dropped), with the part they came from.",
            'SELECT instance, "date", source_key, line FROM events WHERE NOT parse_ok'
            " ORDER BY source_key, line",
        ),
        SavedQuery(
            "search",
            "Events matching every filter given (user, operation, client host); '' for any. An operation"
            " QUERY_DDL/QUERY_DCL/QUERY_DML also matches QUERY events of that category (MariaDB writes QUERY).",
            f"SELECT {_COLUMNS} FROM events WHERE {{time}} AND {_optional('username', 'user')}"
            f" AND ({{operation}} = '' OR operation = {{operation}}"
            f" OR (operation = 'QUERY' AND 'QUERY_' || category = {{operation}}))"
            f" AND {_optional('client_host', 'client_host')} {_ORDER}",
            optional=("user", "operation", "client_host"),
        ),
    )
}


def saved_query(name: str) -> SavedQuery:
    try:
        return QUERIES[name]
    except KeyError:
        raise QueryError(f"no saved query {name!r}: choose one of {', '.join(QUERIES)}") from None
