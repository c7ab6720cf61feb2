"""The dashboard's audit analytics and notebook 85's steps, answered by the query engine over a real backup.

Real parts: the emulator over HTTP, parts written with the downloader's own writer (GzipPartWriter, PartKey)
under two instances, today and twelve days ago (outside the default week), and DuckDB reading them through
labkit.query. Nothing is faked. The expected answers are counted here, from the events as they are written,
not by any parser.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labkit import dashboard, workbook
from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter
from labkit.config import LabConfig, load_config
from tests.support.emulated import EmulatedAccount

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
OLD = TODAY - timedelta(days=12)


class Backup:
    """Aurora-format lines written as parts; remembers every event it wrote."""

    def __init__(self, config: LabConfig, account: EmulatedAccount) -> None:
        self.config = config
        self.s3 = account.client("s3")
        self.s3.create_bucket(Bucket=config.names.bucket)
        self.events: list[dict[str, object]] = []
        self.query_id = 0

    def line(
        self, day: datetime, minute: int, instance: str, user: str, op: str, sql: str = "", ret: str = "0"
    ) -> bytes:
        """One event; ``sql`` is quoted and escaped as the server writes it, except for a TABLE event's table
        name (READ/WRITE), which is bare and has no return code."""
        self.query_id += 1
        when = day + timedelta(hours=9, minutes=minute, microseconds=self.query_id)
        micros = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        obj = "'" + sql.replace("\\", "\\\\").replace("'", "\\'") + "'" if sql else ""
        if op in ("READ", "WRITE"):
            obj, ret = sql, ""
        self.events.append(
            {"day": day, "when": when, "instance": instance, "user": user, "op": op, "sql": sql}
        )
        return f"{micros},{instance},{user},10.0.0.{len(user)},{self.query_id},{self.query_id},{op},shop,{obj},{ret}\n".encode()

    def write(self, day: datetime, instance: str, lines: list[bytes], part_lines: int = 3) -> None:
        """One file; parts of ``part_lines`` lines each, with the downloader's metadata."""
        key = PartKey(
            self.config.log_prefix,
            self.config.cluster_id,
            instance,
            day.date().isoformat(),
            f"audit/audit.log.0.{day:%Y-%m-%d}-09-00.0",
        )
        start = 0
        for number, first in enumerate(range(0, len(lines), part_lines), start=1):
            data = b"".join(lines[first : first + part_lines])
            writer = GzipPartWriter(self.s3, self.config.names.bucket, key.key(number), start)
            writer.write(data)
            writer.close({"source-file": key.file_id, "source-last-written": "0", "instance": instance})
            start += len(data)


@pytest.fixture
def backup(account: EmulatedAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backup:
    monkeypatch.setenv("LABKIT_ENDPOINT_URL", account.url)
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    config = load_config(env={}, endpoint_url=account.url, state_dir=tmp_path / "state")
    b = Backup(config, account)
    for day in (TODAY, OLD):
        for instance in ("db-a", "db-b"):
            lines = [
                b.line(day, 0, instance, "app", "CONNECT"),
                b.line(day, 1, instance, "app", "QUERY", "SELECT c FROM t WHERE id=1, 'a,b'"),
                b.line(day, 2, instance, "app", "READ", "t2"),
                b.line(day, 3, instance, "admin", "QUERY", "CREATE TABLE t2 (id int)"),
                b.line(day, 4, instance, "admin", "QUERY", "GRANT SELECT ON shop.* TO 'app'@'%'"),
                b.line(day, 5, instance, "nobody", "FAILED_CONNECT", ret="1045"),
                b.line(day, 6, instance, "nobody", "FAILED_CONNECT", ret="1045"),
                b.line(day, 7, instance, "app", "QUERY", "DROP TABLE t2"),
                b.line(day, 8, instance, "app", "DISCONNECT"),
            ]
            b.write(day, instance, lines)
    return b


def recent(backup: Backup, **match: object) -> list[dict[str, object]]:
    return [e for e in backup.events if e["day"] == TODAY and all(e[k] == v for k, v in match.items())]


def test_dashboard_answers_equal_the_events_written_in_the_window(backup: Backup) -> None:
    # GIVEN today's and an older day's parts for two instances WHEN the dashboard asks about the last week
    archive = dashboard.audit_archive(backup.config)
    # THEN failed logins: only this week's, per user and host, with their count
    failed = dashboard.archive_failed_logins(archive)
    assert failed[["username", "attempts"]].to_dict("records") == [
        {"username": "nobody", "attempts": len(recent(backup, op="FAILED_CONNECT"))}
    ]
    # AND DDL/DCL statements: CREATE, GRANT, DROP on both instances this week, none from the old day
    ddl = dashboard.archive_ddl_dcl(archive)
    assert Counter(ddl["username"]) == Counter(
        str(e["user"])
        for e in recent(backup, op="QUERY")
        if str(e["sql"]).startswith(("CREATE", "GRANT", "DROP"))
    )
    assert set(ddl["object"]) == {
        "CREATE TABLE t2 (id int)",
        "GRANT SELECT ON shop.* TO 'app'@'%'",
        "DROP TABLE t2",
    }
    # AND one instance narrows it
    one = dashboard.archive_ddl_dcl(dashboard.audit_archive(backup.config, instance="db-b"))
    assert set(one["instance"]) == {"db-b"} and len(one) == len(ddl) // 2


def test_dashboard_charts_are_drawn_from_the_engine_counts(backup: Backup) -> None:
    archive = dashboard.audit_archive(backup.config)
    fig = dashboard.archive_events_over_time(archive)
    lines = {line.get_label(): sum(line.get_ydata()) for line in fig.axes[0].get_lines()}
    assert lines == dict(Counter(str(e["op"]) for e in recent(backup)))
    users = dashboard.archive_top_users(archive)
    bars = {
        t.get_text(): p.get_width()
        for t, p in zip(users.axes[0].get_yticklabels(), users.axes[0].patches, strict=True)
    }
    assert bars == dict(Counter(str(e["user"]) for e in recent(backup)))


def test_a_window_without_events_draws_empty_charts(backup: Backup) -> None:
    archive = dashboard.audit_archive(backup.config, since="2001-01-01", until="2001-01-02")
    assert "no audit events" in dashboard.archive_events_over_time(archive).axes[0].texts[0].get_text()
    assert "no audit events" in dashboard.archive_top_users(archive).axes[0].texts[0].get_text()
    assert dashboard.archive_failed_logins(archive).empty


def test_notebook_85_steps_search_and_summarise_the_archive(backup: Backup) -> None:
    archive = workbook.open_archive("local")
    # search with the notebook's empty-means-any parameters
    found = workbook.search_archive(archive, user="admin", operation="QUERY_DCL", since="", instance="")
    assert list(found["object"]) == ["GRANT SELECT ON shop.* TO 'app'@'%'"] * 2
    everything = workbook.search_archive(archive, since=OLD.date().isoformat())
    assert len(everything) == len(backup.events)
    # a saved query with '' parameters means any; the table's statements and table events
    touching = workbook.run_saved_query(
        archive, "statements_touching_table", table="t2", since="", instance=""
    )
    assert len(touching) == len([e for e in recent(backup) if "t2" in str(e["sql"])]) == 6
    # the summary: engine counts equal the events written this week, and the whole archive's parts
    summary = workbook.archive_summary(archive)
    assert summary["events_per_operation"] == dict(Counter(str(e["op"]) for e in recent(backup)))
    assert summary["failed_logins"] == len(recent(backup, op="FAILED_CONNECT"))
    assert summary["ddl_dcl_statements"] == 6 and summary["unparsed_lines"] == 0
    assert summary["parts"] == 4 * 3  # 4 files of 9 lines, 3 lines a part
    listed = backup.s3.list_objects_v2(Bucket=backup.config.names.bucket)["Contents"]
    assert summary["part_bytes"] == sum(o["Size"] for o in listed)
    assert set(workbook.saved_queries()["name"]) >= {"failed_logins", "ddl_dcl_by_user", "search"}
    sql = "SELECT count(*) AS n FROM audit_events WHERE operation = 'FAILED_CONNECT'"
    assert int(workbook.query_archive(archive, sql)["n"][0]) == len(
        [e for e in backup.events if e["op"] == "FAILED_CONNECT"]
    )
