"""The saved queries as each engine gets them: partition pruning in every one, each dialect's own functions
only where they exist, values inlined safely, and Athena's named-query form with ``?`` parameters.

No engine runs here (DuckDB runs the queries in test_query_archive; Athena cannot run offline), so these
check the text: what Athena would be sent."""

from __future__ import annotations

import re

import pytest

from labkit.errors import LabkitError
from labkit.query.queries import QUERIES
from labkit.query.schema import PARTITION_COLUMNS, TABLE_NAME

PARAMS = {"user": "o'neil", "table": "orders", "client_host": "10.0.0.5", "operation": "QUERY_DDL"}
DUCKDB_ONLY = ("regexp_matches", "regexp_full_match", "make_timestamp", "try_strptime", "'\\1'", ", 'g')")
ATHENA_ONLY = ("regexp_like", "from_unixtime_nanos", "date_parse", '"$path"', "'$1'")


def render(name: str, dialect: str) -> str:
    query = QUERIES[name]
    values = {k: v for k, v in PARAMS.items() if k in query.parameters}
    return query.render(dialect, instance="lab-writer", since="2026-12-01", until="2026-12-03", **values)


@pytest.mark.parametrize("name", sorted(QUERIES))
@pytest.mark.parametrize("dialect", ["duckdb", "athena"])
def test_every_query_prunes_by_date_and_instance_in_its_scan(name: str, dialect: str) -> None:
    sql = render(name, dialect)
    scan = sql[sql.index(f"FROM {TABLE_NAME} WHERE") :].split(")", 1)[0]  # the predicates of the table scan
    date, instance = (f'"{c}"' for c in PARTITION_COLUMNS[2:0:-1])
    assert (
        f"{date} BETWEEN '2026-11-30' AND '2026-12-03'" in scan
    )  # since - 1 day: files started the day before
    assert f"{instance} = 'lab-writer'" in scan


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_each_dialect_gets_only_its_own_functions(name: str) -> None:
    duckdb, athena = render(name, "duckdb"), render(name, "athena")
    assert not [f for f in ATHENA_ONLY if f in duckdb]
    assert not [f for f in DUCKDB_ONLY if f in athena]


def test_values_are_literals_that_cannot_end_the_string() -> None:
    sql = render("session_timeline", "athena")
    assert "username = 'o''neil'" in sql
    with pytest.raises(LabkitError):  # an instance id is an RDS identifier, nothing else
        QUERIES["top_users"].render("duckdb", instance="x' OR '1'='1")
    with pytest.raises(LabkitError, match="after until"):
        QUERIES["top_users"].render("duckdb", since="2026-12-05", until="2026-12-01")
    with pytest.raises(LabkitError, match="needs table"):
        QUERIES["statements_touching_table"].render("duckdb")
    with pytest.raises(LabkitError, match="bucket"):
        QUERIES["events_per_operation"].render("duckdb", bucket="hour); DROP TABLE x; --")


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_named_queries_have_one_name_per_question_mark(name: str) -> None:
    sql, order = QUERIES[name].render_named()
    outside_literals = re.sub(
        r"'(?:[^']|'')*'", "''", sql
    )  # a ? inside a string (the regexes) is no parameter
    assert outside_literals.count("?") == len(order) and "\x00" not in sql
    assert set(order) <= set(QUERIES[name].parameters)
    assert {"since", "until", "instance"} <= set(order)
    # the partition predicates are there with parameters, so Athena's projection prunes by them
    assert re.search(
        r'"date" BETWEEN CAST\(date_add\(\'day\', -1, CAST\(\? AS date\)\) AS varchar\) AND \?', sql
    )
    assert '"instance" = ?' in sql


# Every function Athena's SQL may call: each is in Trino's function list (https://trino.io/docs/current/
# functions/list.html), which Athena engine version 3 follows. A function outside it is a typo or a DuckDB
# function that leaked into the Athena dialect.
TRINO_FUNCTIONS = {
    "cast", "chr", "coalesce", "count", "date_add", "date_parse", "date_trunc", "from_unixtime_nanos", "if",
    "length", "lower", "regexp_extract", "regexp_like", "regexp_replace", "replace", "strpos", "substr", "try",
    "try_cast", "upper",
}  # fmt: skip


def called_functions(sql: str) -> set[str]:
    """The functions ``sql`` calls, read by sqlglot's Trino grammar (which raises on a syntax error)."""
    import sqlglot
    from sqlglot import exp

    names = set()
    for call in sqlglot.parse_one(sql, read="trino").find_all(exp.Func):
        head = call.name if isinstance(call, exp.Anonymous) else call.sql(dialect="trino").split("(")[0]
        text = call.sql(dialect="trino").upper()
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", head) and text.startswith(f"{head.upper()}("):
            names.add(head.lower())
    return names


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_athenas_sql_parses_as_trino_and_calls_only_trino_functions(name: str) -> None:
    """Athena cannot run here: sqlglot's Trino grammar stands in for its parser."""
    for sql in (render(name, "athena"), QUERIES[name].render_named()[0]):
        called = called_functions(sql)
        assert called and called <= TRINO_FUNCTIONS, called - TRINO_FUNCTIONS


def test_the_trino_check_catches_a_duckdb_function_in_athenas_sql() -> None:
    leaked = render("failed_logins", "athena").replace("regexp_like(", "regexp_full_match(", 1)
    assert "regexp_full_match" in called_functions(leaked) - TRINO_FUNCTIONS
