"""The audit line pattern and its columns: one regex for Athena (Java) and DuckDB (RE2), round-tripping
what the server writes. No network: DuckDB runs in-process on lines given to it directly (no S3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.backup.layout import PartKey
from labkit.dashboard.audit_lines import categorize, parse_line
from labkit.query import DuckDBEngine
from labkit.query.archive import Partition
from labkit.query.dialects import events_select
from labkit.query.schema import COLUMNS, LINE_PATTERN, PARTITION_COLUMNS, TABLE_NAME
from tests.support.audit_samples import SAMPLES, server_escape

PARTITION = Partition(
    "c", "lab-writer", "2026-12-01", "audit-logs/cluster=c/instance=lab-writer/date=2026-12-01/"
)


def events(lines: list[str]):  # type: ignore[no-untyped-def]
    engine = DuckDBEngine(s3=None, bucket="b", prefix="audit-logs")
    engine.add_lines(lines, ["s3://b/k.part-00001.gz"] * len(lines), PARTITION)
    return engine.sql_loaded(f"SELECT * FROM ({events_select('duckdb', TABLE_NAME, 'true')}) ORDER BY line")


def test_groups_map_one_to_one_to_columns_and_partitions_follow_the_layout() -> None:
    assert re.compile(LINE_PATTERN).groups == len(COLUMNS)
    key = PartKey("p", "c", "i", "2026-12-01", "f").key(1)
    assert [seg.split("=")[0] for seg in key.split("/") if "=" in seg] == list(PARTITION_COLUMNS)


def test_pattern_stays_in_the_java_and_re2_subset() -> None:
    # RE2 rejects these and Java RegexSerDe treats them differently; DuckDB compiling it is the RE2 check
    for construct in ("(?=", "(?!", "(?<", "*+", "++", "?+", "\\1", "(?P"):
        assert construct not in LINE_PATTERN
    assert len(events(["x"])) == 1


@pytest.mark.parametrize(("line", "expected"), SAMPLES)
def test_known_lines_parse_to_their_fields(line: str, expected: dict[str, object]) -> None:
    row = events([line]).iloc[0]
    assert row["parse_ok"]
    for name, value in expected.items():
        got = row[name]
        assert pd.isna(got) if value is None else got == value, name


@pytest.mark.parametrize(
    "line", ["", "garbage", "20261126 15:29:21,only,three", "not a time,h,u,c,1,2,QUERY,d,'x',0"]
)
def test_unreadable_lines_are_kept_with_parse_ok_false(line: str) -> None:
    row = events([line]).iloc[0]
    assert not row["parse_ok"] and row["line"] == line


names = st.text(st.characters(codec="utf-8", exclude_characters=",'\n\r"), max_size=12)
statements = st.text(st.characters(codec="utf-8", exclude_characters="\x00\ue000"), max_size=80)


@settings(max_examples=40, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(2002, 1, 1), max_value=datetime(2099, 1, 1)),  # 16-digit epochs
    aurora=st.booleans(),
    user=names,
    host=names,
    conn=st.integers(0, 2**40),
    op=st.sampled_from(["QUERY", "QUERY_DDL", "QUERY_DCL", "CONNECT"]),
    db=names,
    sql=statements,
    retcode=st.integers(0, 65535),
)
def test_what_the_server_writes_comes_back_as_its_columns(
    when: datetime, aurora: bool, user: str, host: str, conn: int, op: str, db: str, sql: str, retcode: int
) -> None:
    # GIVEN a line as the server writes it (Aurora: epoch microseconds; MariaDB: seconds)
    when = when.replace(tzinfo=UTC) if aurora else when.replace(tzinfo=UTC, microsecond=0)
    epoch_us = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    stamp = str(epoch_us) if aurora else when.strftime("%Y%m%d %H:%M:%S")
    line = f"{stamp},srv,{user},{host},{conn},{conn + 1},{op},{db},'{server_escape(sql)}',{retcode}"
    # WHEN DuckDB and the Python parser read it
    row = events([line]).iloc[0]
    parsed = parse_line(line)
    # THEN both give back what was written
    assert row["parse_ok"]
    assert row["event_time"].to_pydatetime().replace(tzinfo=UTC) == when
    assert (row["username"], row["client_host"], row["database_name"]) == (user, host, db)
    assert (row["connection_id"], row["query_id"], row["operation"], row["retcode"]) == (
        conn,
        conn + 1,
        op,
        retcode,
    )
    assert row["object"] == sql
    assert parsed is not None and parsed.object == sql and parsed.timestamp == when and parsed.user == user


heads = st.lists(
    st.sampled_from(["", " ", "\n", "(", "/* a\nb */", "-- note\n", "# x\n", "\t", "\x0b", "\u2028", "é"]),
    max_size=4,
).map("".join)
words = st.sampled_from(["SELECT", "insert", "GRANT", "create", "DROP", "set", "with", "TRUNCATE", "x", ""])
nouns = st.sampled_from(["USER", "table", "ROLE", "PASSWORD", "DEFAULT", "", "t1"])


@settings(max_examples=40, deadline=None)
@given(
    head=heads, verb=words, noun=nouns, tail=st.text(max_size=20), op=st.sampled_from(["QUERY", "QUERY_DDL"])
)
def test_sql_category_agrees_with_the_python_rule(
    head: str, verb: str, noun: str, tail: str, op: str
) -> None:
    # GIVEN a statement with leading blanks/comments/parentheses; WHEN DuckDB categorizes it
    sql = f"{head}{verb} {noun}{tail}".replace("\x00", "")
    line = f"20261126 15:29:21,vm,u,h,1,2,{op},d,'{server_escape(sql)}',0"
    row = events([line]).iloc[0]
    # THEN it is the category the dashboards' Python parser gives
    assert row["object"] == sql
    assert row["category"] == categorize(op, sql)
