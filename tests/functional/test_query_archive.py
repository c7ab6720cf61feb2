"""Every saved query, run by DuckDB over a real backup in the emulator's S3, returns the rows an independent
reading of the decompressed parts gives.

Real parts: the emulator over HTTP, the detector and downloader cores copying audit files written here (lines
with commas, escaped quotes and backslashes, server-escaped newlines, non-UTF-8 bytes, a statement over 1 MB,
a line cut by a part boundary, lines no pattern reads), plus a second instance and an older day written with
the project's own part writer. Nothing is faked. The independent reading is a character scanner written
here from the format's description, not the regex, and the category rule is the dashboards' Python one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter
from labkit.query import DuckDBEngine
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import BUCKET, PREFIX, Pipeline
from tests.support.query_oracle import compare_saved_queries, expected_events

TODAY = datetime.now(UTC).date()
BIG = "INSERT INTO orders VALUES " + ", ".join(f"({i}, 'it''s, \\'{i}\\'')" for i in range(60_000))


def esc(sql: str) -> str:
    """What server_audit writes for a statement."""
    return sql.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")


def maria(hour: int, user: str, host: str, conn: int, qid: int, op: str, obj: str, ret: str = "0") -> bytes:
    stamp = f"{TODAY:%Y%m%d} {hour:02d}:{qid % 60:02d}:07"
    return f"{stamp},vm,{user},{host},{conn},{qid},{op},shop,{obj},{ret}\n".encode()


def aurora(hour: int, user: str, conn: int, qid: int, sql: str, ret: int = 0) -> bytes:
    moment = datetime(TODAY.year, TODAY.month, TODAY.day, hour, 1, 2, 123456, tzinfo=UTC)
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros},aurora-1,{user},10.0.0.7,{conn},{qid},QUERY,shop,'{esc(sql)}',{ret}\n".encode()


# real server_audit output (MariaDB 10.11.19: DDL, DML with quotes/commas/backslashes/newlines, DCL, failed
# logins), moved to today so the queries' day covers it
REAL = (Path(__file__).parents[1] / "unit" / "data" / "mariadb-10.11.19-server_audit.log").read_bytes()


def writer_lines() -> bytes:
    lines = [
        REAL.replace(b"20261126 ", f"{TODAY:%Y%m%d} ".encode()),
        maria(1, "app", "10.0.0.5", 7, 1, "CONNECT", ""),
        maria(
            1,
            "app",
            "10.0.0.5",
            7,
            2,
            "QUERY",
            "'" + esc("INSERT INTO orders VALUES (1, 'O\\'Brien, Pat')") + "'",
        ),
        maria(
            1,
            "app",
            "10.0.0.5",
            7,
            3,
            "QUERY",
            "'" + esc("CREATE TABLE orders2 (\n  id int,\n  note text)") + "'",
        ),
        maria(2, "app", "10.0.0.5", 7, 4, "READ", "orders", ""),
        maria(2, "app", "10.0.0.5", 7, 5, "WRITE", "orders", ""),
        maria(2, "nobody", "203.0.113.9", 8, 0, "FAILED_CONNECT", "", "1045"),
        maria(2, "app", "203.0.113.9", 9, 0, "CONNECT", "", "1045"),
        maria(3, "root", "localhost", 10, 6, "QUERY", "'" + esc("GRANT SELECT ON shop.* TO 'app'@'%'") + "'"),
        maria(3, "root", "localhost", 10, 7, "QUERY", "'" + esc("/* admin */ DROP TABLE orders2") + "'"),
        maria(3, "root", "localhost", 10, 8, "QUERY", "'" + esc("CREATE USER bob") + "'", "0,extra,fields"),
        # latin-1 bytes that are no UTF-8, next to a real UTF-8 "é"
        f"{TODAY:%Y%m%d} 03:00:09,vm,app,10.0.0.5,7,9,QUERY,shop,'SELECT ".encode()
        + b"\xe9\xff caf\xc3\xa9 FROM orders',0\n",
        maria(4, "app", "10.0.0.5", 7, 10, "QUERY", "'" + esc(BIG) + "'"),
        maria(
            4,
            "app",
            "10.0.0.5",
            7,
            11,
            "QUERY",
            "'" + esc("SELECT 'a\u2028b\x0bc', \"x\\y\" FROM orders") + "'",
        ),
        maria(5, "app", "10.0.0.5", 7, 12, "QUERY", "'" + esc("SELECT 1") + "'").replace(b"\n", b"\r\n"),
        b"garbage that is no audit line\n",
        f"{TODAY:%Y%m%d} 05:00:00,vm,app,10.0.0.5,7,13,QUERY,shop,'SELECT cut short, \\'here".encode()
        + b"\n",
        maria(6, "app", "10.0.0.5", 7, 14, "DISCONNECT", ""),
        aurora(6, "rdsadmin", 223153, 20070830, "SELECT @@aurora_version"),
        aurora(7, "app", 11, 15, "UPDATE orders SET note = 'x,y' WHERE id = 1", 1146),
    ]
    return b"".join(lines)


# --- the backup ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from moto.backends import get_backend

    from labkit.local.emulator import EmulatorServer

    server = EmulatorServer(0)
    server.start()
    try:
        account = EmulatedAccount(server, tmp_path_factory.mktemp("query"))
        pipeline = Pipeline(account)
        directory = account.add_instance("lab-writer")
        active = directory / "server_audit.log"
        data = writer_lines()
        cut = data.index(b"UPDATE orders")  # GIVEN a part boundary inside a line: copy, then write on
        active.write_bytes(data[:cut])
        pipeline.detect("lab-writer")
        pipeline.copy_all("lab-writer")
        with open(active, "ab") as handle:
            handle.write(data[cut:])
        pipeline.detect("lab-writer")
        pipeline.copy_all("lab-writer")
        assert pipeline.reconcile().clean
        # AND another instance today, and the writer two days ago (the project's own part writer)
        other = maria(8, "etl", "10.0.0.8", 3, 1, "QUERY", "'" + esc("DELETE FROM orders WHERE id = 2") + "'")
        _put(pipeline.s3, "lab-reader", TODAY, "server_audit.log.1", other * 3)
        _put(pipeline.s3, "lab-writer", TODAY - timedelta(days=2), "old.log", other.replace(b"etl", b"old"))
        yield pipeline, data
    finally:
        server.stop()
        get_backend("rds").reset()


def _put(s3: Any, instance: str, day: date, name: str, data: bytes) -> None:
    key = PartKey(PREFIX, "lab-cluster", instance, day.isoformat(), name).key(1)
    writer = GzipPartWriter(s3, BUCKET, key, 0)
    writer.write(data)
    writer.close({})


class Recorder:
    """The real S3 client, with the prefixes listed and keys read written down."""

    def __init__(self, s3: Any) -> None:
        self.s3, self.listed, self.read = s3, [], []

    def get_paginator(self, name: str) -> Any:
        paginator, listed = self.s3.get_paginator(name), self.listed

        class Recording:
            def paginate(self, **kwargs: Any) -> Any:
                listed.append(kwargs["Prefix"])
                return paginator.paginate(**kwargs)

        return Recording()

    def get_object(self, **kwargs: Any) -> Any:
        self.read.append(kwargs["Key"])
        return self.s3.get_object(**kwargs)


def test_every_saved_query_returns_the_rows_of_an_independent_reading(archive: Any) -> None:
    pipeline, data = archive
    recorder = Recorder(pipeline.s3)
    engine = DuckDBEngine(recorder, BUCKET, PREFIX)
    # WHEN every saved query runs for the writer today, THEN each returns the independent reading's rows
    answers = compare_saved_queries(
        engine, pipeline.s3, BUCKET, PREFIX, "lab-writer", TODAY, user="root", client_host="203.0.113.9",
        table="ORDERS",
    )  # fmt: skip
    assert len(answers["events"]) + len(answers["unparsed"]) == data.count(b"\n")  # the reading loses no line
    # AND the hard lines are there, whole
    ddl = answers["ddl_dcl_by_user"]
    assert {
        "GRANT SELECT ON shop.* TO 'app'@'%'",
        "/* admin */ DROP TABLE orders2",
        "CREATE USER bob",
    } <= set(ddl.object)
    touching = answers["statements_touching_table"]
    assert touching.object.str.len().max() == len(BIG)  # the 1 MB statement, whole
    assert any("\ufffd\ufffd caf\u00e9" in o for o in touching.object)  # invalid bytes kept as U+FFFD
    assert "CREATE TABLE orders2 (\n  id int,\n  note text)" in set(touching.object)
    assert "garbage that is no audit line" in set(answers["unparsed_lines"].line)
    assert len(answers["failed_logins"]) == 4  # two here, two in the real file
    # AND only the asked instance's asked dates were listed below the instance level, and read
    assert not [k for k in recorder.read if "instance=lab-writer/date=" not in k]
    old = (TODAY - timedelta(days=2)).isoformat()
    assert not [p for p in recorder.listed + recorder.read if "lab-reader" in p or old in p]


def test_all_instances_and_dates_through_sql(archive: Any) -> None:
    pipeline, _ = archive
    engine = DuckDBEngine(pipeline.s3, BUCKET, PREFIX)
    events, unparsed = expected_events(pipeline.s3, BUCKET, PREFIX, None, date(1970, 1, 1))
    got = engine.sql(
        "SELECT instance, count(*) AS lines, count(*) FILTER (WHERE operation = '') AS unparsed"
        " FROM audit_events GROUP BY instance ORDER BY instance"
    )
    want = events.groupby("instance").size()
    assert dict(zip(got.instance, got.lines - got.unparsed, strict=True)) == want.to_dict()
    assert got.unparsed.sum() == len(unparsed)


def test_cli_search_and_query_on_the_local_target(archive: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from labkit.cli import app

    pipeline, _ = archive
    # GIVEN the CLI pointed at this emulator's bucket the way a user would (LABKIT_* variables)
    for name, value in {"ENDPOINT_URL": pipeline.account.url, "BUCKET": BUCKET, "LOG_PREFIX": PREFIX}.items():
        monkeypatch.setenv(f"LABKIT_{name}", value)
    day = TODAY.isoformat()
    runner = CliRunner()
    # WHEN a user searches for DDL by root, as JSON
    found = runner.invoke(
        app, ["search", "--user", "root", "--operation", "QUERY_DDL", "--since", day, "--instance",
              "lab-writer", "--target", "local", "--format", "json"],
    )  # fmt: skip
    assert found.exit_code == 0, found.output
    events = json.loads(found.stdout)
    assert "/* admin */ DROP TABLE orders2" in [e["object"] for e in events]
    assert {(e["username"], e["category"]) for e in events} == {("root", "DDL")}
    # AND runs SQL of their own, as CSV, bounded to one instance and day
    counted = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM audit_events WHERE operation = 'FAILED_CONNECT'",
              "--instance", "lab-writer", "--since", day, "--until", day, "--format", "csv"],
    )  # fmt: skip
    assert counted.exit_code == 0, counted.output
    assert counted.stdout.split() == ["n", "3"]  # one written here, two in the real MariaDB file
    # AND a mistake in the SQL is an error that says what DuckDB said, not a traceback
    broken = runner.invoke(app, ["query", "SELECT nope FROM audit_events", "--instance", "lab-writer"])
    assert broken.exit_code != 0 and "nope" in str(broken.exception)
