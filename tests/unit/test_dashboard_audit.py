"""Audit lines of both formats become events a person can query: who, when, what, and did it work.

The MariaDB file under data/ was written by MariaDB 10.11.19's server_audit plugin (CONNECT,QUERY,TABLE)
while a client ran DDL, DML with quotes/commas/backslashes/newlines, DCL and two logins with wrong passwords.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from labkit.dashboard.audit import (
    ddl_dcl_events,
    events_over_time,
    failed_logins,
    parse_line,
    parse_lines,
    top_users,
)
from labkit.dashboard.audit_lines import categorize

DATA = Path(__file__).parent / "data"
MARIADB = (DATA / "mariadb-10.11.19-server_audit.log").read_text()
AURORA = r"1703817810074458,aurora-mysql-instance-1,rdsadmin,localhost,223153,20070830,QUERY,,'SELECT @@aurora_version',0"


@pytest.fixture(scope="module")
def mariadb_events():  # type: ignore[no-untyped-def]
    return parse_lines(MARIADB)


def test_the_reference_aurora_line() -> None:
    # WHEN the REFERENCE example line is parsed
    event = parse_line(AURORA)
    # THEN every field is where Aurora puts it, and the microsecond timestamp is kept exactly
    assert event is not None
    assert event.timestamp == datetime(2023, 12, 29, 2, 43, 30, 74458, tzinfo=UTC)
    assert (event.server_host, event.user, event.host) == ("aurora-mysql-instance-1", "rdsadmin", "localhost")
    assert (event.connection_id, event.query_id, event.operation) == (223153, 20070830, "QUERY")
    assert (event.database, event.object, event.retcode) == ("", "SELECT @@aurora_version", 0)
    assert event.category == "SELECT"


def test_an_aurora_query_with_escaped_quotes_and_commas_stays_one_field() -> None:
    # GIVEN SQL with commas and an escaped quote inside the quoted object
    line = r"1703817810074459,aurora-1,app,10.0.0.5,7,8,QUERY,shop,'INSERT INTO t VALUES (\'a,b\', \'O\\\'Brien\')',1062"
    # WHEN parsed
    event = parse_line(line)
    # THEN the SQL is the statement as the client sent it, and the return code is the last field
    assert event is not None
    assert event.object == r"INSERT INTO t VALUES ('a,b', 'O\'Brien')"
    assert event.retcode == 1062 and event.category == "DML"


def test_every_line_of_a_real_mariadb_file_parses(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    # THEN one event per line, none dropped, in the MariaDB timestamp format, as UTC
    assert len(mariadb_events) == len(MARIADB.splitlines()) == 49
    assert (mariadb_events["timestamp"] == datetime(2026, 11, 26, 16, 23, 54, tzinfo=UTC)).all()
    statements = set(mariadb_events.loc[mariadb_events["operation"] == "QUERY", "object"])
    # quotes, commas and backslashes come back as the client typed them
    assert r"INSERT INTO orders VALUES (1, 'O\'Brien, Pat'), (2, 'a,b,c'), (3, 'back\\slash')" in statements
    assert "INSERT INTO orders VALUES (4, 'line1\nline2')" in statements  # a newline the plugin wrote as \n
    assert 'UPDATE orders SET note = "double \\"quoted\\"" WHERE id = 2' in statements
    assert "SELECT note, id FROM orders WHERE note LIKE '%,%'" in statements


def test_failed_connect_carries_the_error_code(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    failed = mariadb_events[mariadb_events["operation"] == "FAILED_CONNECT"]
    assert list(failed["user"]) == ["app", "nobody"]
    assert list(failed["retcode"]) == [1045, 1045]
    assert set(failed["category"]) == {"FAILED_CONNECT"} and set(failed["object"]) == {""}


def test_table_events_have_a_table_name_and_no_return_code() -> None:
    # GIVEN real TABLE event lines (the return code field is empty)
    write = parse_line("20261126 15:50:33,vm,root,localhost,5,5,WRITE,mysql,global_priv,")
    rename = parse_line("20261126 16:23:54,vm,root,localhost,3,13,RENAME,shop,orders|shop.orders2,")
    # THEN the object is the table and the return code is missing, not 0
    assert write is not None and rename is not None
    assert (write.operation, write.database, write.object, write.retcode) == (
        "WRITE",
        "mysql",
        "global_priv",
        None,
    )
    assert write.category == "DML"
    assert rename.object == "orders|shop.orders2" and rename.category == "DDL"


def test_extra_trailing_fields_are_kept_apart() -> None:
    # GIVEN lines shaped like RDS for MySQL's, with fields after the return code (constructed, not captured)
    connect = parse_line("20240104 12:29:43,ip-172-27-1-97,rdsadmin,localhost,26,0,CONNECT,,,0,SOCKET")
    query = parse_line(
        "20240104 12:29:44,ip-172-27-1-97,rdsadmin,localhost,26,41,QUERY,mysql,'SELECT 1, 2',0,x,y"
    )
    # THEN the return code is still the tenth field and the rest is in ``extra``
    assert connect is not None and query is not None
    assert (connect.retcode, connect.extra, connect.category) == (0, ("SOCKET",), "CONNECT")
    assert (query.object, query.retcode, query.extra) == ("SELECT 1, 2", 0, ("x", "y"))


def test_a_query_cut_before_its_closing_quote_keeps_its_text() -> None:
    event = parse_line(r"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'INSERT INTO t VALUES (\'abc")
    assert event is not None
    assert event.object == "INSERT INTO t VALUES ('abc" and event.retcode is None


@pytest.mark.parametrize(
    "line", ["", "hello", "not a time,vm,u,h,1,2,QUERY,db,'SELECT 1',0", "20261126 15:29:21,vm,u,h"]
)
def test_malformed_lines_are_skipped(line: str) -> None:
    assert parse_line(line) is None
    assert parse_lines(line + "\n" + AURORA).shape[0] == 1


def test_bytes_with_crlf_parse_like_text() -> None:
    frame = parse_lines((AURORA + "\r\n" + AURORA + "\r\n").encode())
    assert list(frame["retcode"]) == [0, 0] and list(frame["object"]) == ["SELECT @@aurora_version"] * 2


@pytest.mark.parametrize(
    ("sql", "category"),
    [
        ("/* ApplicationName=x */ SELECT 1", "SELECT"),
        ("with x as (select 1) select * from x", "SELECT"),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("CREATE USER 'app'@'%' IDENTIFIED BY *****", "DCL"),
        ("DROP ROLE auditor", "DCL"),
        ("GRANT SELECT ON shop.* TO 'app'@'%'", "DCL"),
        ("SET PASSWORD FOR 'app'@'%' = *****", "DCL"),
        ("CREATE TABLE t (id INT)", "DDL"),
        ("truncate table t", "DDL"),
        ("REPLACE INTO t VALUES (1)", "DML"),
        ("BEGIN", "OTHER"),
        ("SET autocommit=0", "OTHER"),
    ],
)
def test_categories_follow_the_sql_verb(sql: str, category: str) -> None:
    assert categorize("QUERY", sql) == category


def test_failed_logins_are_counted_per_user_host_and_code(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    frame = failed_logins(mariadb_events)
    assert list(frame.columns) == ["user", "host", "retcode", "attempts", "first_seen", "last_seen"]
    assert sorted(frame["user"]) == ["app", "nobody"]
    assert set(frame["retcode"]) == {1045} and set(frame["attempts"]) == {1}


def test_ddl_and_dcl_statements_are_listed_once(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    frame = ddl_dcl_events(mariadb_events)
    verbs = [sql.split()[0] for sql in frame["object"]]
    assert verbs == ["CREATE", "CREATE", "CREATE", "GRANT", "REVOKE", "ALTER", "RENAME", "DROP"]
    assert list(frame["category"]).count("DCL") == 3
    # the TABLE events of the same statements are added only when asked for
    assert len(ddl_dcl_events(mariadb_events, include_table_events=True)) == 8 + 4


def test_events_over_time_draws_one_line_per_operation(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    fig = events_over_time(mariadb_events)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == set(mariadb_events["operation"])
    assert sum(lines["QUERY"].get_ydata()) == (mariadb_events["operation"] == "QUERY").sum()


def test_top_users_stacks_categories_with_failed_logins_in_red(mariadb_events) -> None:  # type: ignore[no-untyped-def]
    fig = top_users(mariadb_events, n=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["app", "root"]  # most events at the top
    failed = next(c for c in ax.containers if c.get_label() == "FAILED_CONNECT")
    assert failed.patches[0].get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=0.01)


def test_charts_of_no_events_say_so() -> None:
    empty = parse_lines("")
    assert "no audit events" in events_over_time(empty).axes[0].texts[0].get_text()
    assert failed_logins(empty).empty and ddl_dcl_events(empty).empty
