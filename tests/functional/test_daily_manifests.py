"""The daily manifest run: the real scanner handler, invoked with the daily rule's input, writes the manifest
chain of yesterday and today for every instance in the lab's bucket (moto over HTTP, versioned as
deploy_local makes it), and `labkit verify --manifests` passes on what it wrote.

Real: the handler with its own boto3 clients from the lab service's environment, the emulator, the S3
layout's keys and the downloader's gzip part writer, the CLI. Faked: the handler's clock (which days are
"yesterday" and "today"), so that a run near midnight cannot change what the test expects; the local
runtime's day boundary, likewise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labkit.backup.daily_manifests import (
    is_manifest_event,
    manifest_event,
    recent_days,
    write_recent_manifests,
)
from labkit.backup.layout import PartKey
from labkit.backup.manifest import list_manifests, read_manifest
from labkit.backup.s3parts import GzipPartWriter
from labkit.cli import app
from labkit.config import LabConfig
from labkit.local.control import config_env
from labkit.local.events import LambdaContext
from tests.support import lab_service
from tests.support.emulated import EmulatedAccount, audit_line

YESTERDAY, TODAY = "2026-03-01", "2026-03-02"
OLDER = "2026-02-27"  # outside the run's two days
config = lab_service.config  # a deployed lab in the emulator, its own project name
handler_env = lab_service.handler_env  # the lab service's environment, fresh handler clients


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("labkit.handlers.scanner.recent_days", lambda: (YESTERDAY, TODAY))
    yield


class LabBucket:
    """The lab's backup bucket, with parts written as the downloader writes them."""

    def __init__(self, account: EmulatedAccount, config: LabConfig) -> None:
        self.s3 = account.client("s3")
        self.bucket, self.prefix = config.names.bucket, config.log_prefix
        self.ends: dict[tuple[str, str], int] = {}

    def put_part(self, instance: str, day: str, file_id: str, number: int, count: int) -> str:
        start = self.ends.get((instance, file_id), 0)
        data = b"".join(audit_line(i) for i in range(start, start + count))
        key = PartKey(self.prefix, f"{instance}-cluster", instance, day, file_id).key(number)
        writer = GzipPartWriter(self.s3, self.bucket, key, start)
        writer.write(data)
        writer.close({"source-file": file_id, "source-last-written": "0", "instance": instance})
        self.ends[(instance, file_id)] = start + len(data)
        return key

    def manifests(self) -> list[dict[str, Any]]:
        refs = list_manifests(self.s3, self.bucket, self.prefix)
        return [read_manifest(self.s3, self.bucket, r.key)[1] for r in refs]


def invoke_scanner(event: dict[str, Any]) -> Any:
    from labkit.handlers import scanner

    context = LambdaContext(
        "scanner", "1", "arn:aws:lambda:us-east-1:123456789012:function:s:live", 128, "r", "g", "s", 60
    )
    return scanner.lambda_handler(event, context)


def verify_cli(config: LabConfig, out: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        app, ["verify", "--manifests", "--out", str(out), "--json"], env=config_env(config)
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout[result.stdout.index("{") :])


def test_the_daily_run_writes_yesterdays_and_todays_manifests_and_they_verify(
    account: EmulatedAccount, config: LabConfig, handler_env: None, clock: None, tmp_path: Path
) -> None:
    # GIVEN two instances with parts yesterday and today
    lab = LabBucket(account, config)
    for instance in ("db-1", "db-2"):
        lab.put_part(instance, YESTERDAY, "audit.log.0.a", 1, 40)
        lab.put_part(instance, YESTERDAY, "audit.log.1.a", 1, 10)
        lab.put_part(instance, TODAY, "audit.log.0.b", 1, 20)
    # WHEN the scanner is invoked with the daily rule's input
    answer = invoke_scanner(manifest_event())
    # THEN one manifest per instance and day, yesterday's first in each chain, listing every part
    assert answer["failed"] == {} and len(answer["written"]) == 4
    chains = {(m["instance"], m["sequence"]): m["date"] for m in lab.manifests()}
    assert chains == {("db-1", 1): YESTERDAY, ("db-1", 2): TODAY, ("db-2", 1): YESTERDAY, ("db-2", 2): TODAY}
    assert sum(m["totals"]["parts"] for m in lab.manifests()) == 6
    assert sum(m["totals"]["bytes"] for m in lab.manifests()) == sum(lab.ends.values())
    # AND `labkit verify --manifests` passes on the chain
    code, check = verify_cli(config, tmp_path / "out")
    assert code == 0 and check["clean"] is True and check["parts_checked"] == 6


def test_a_second_run_writes_nothing_and_a_late_part_gets_a_revision(
    account: EmulatedAccount, config: LabConfig, handler_env: None, clock: None, tmp_path: Path
) -> None:
    lab = LabBucket(account, config)
    lab.put_part("db-1", YESTERDAY, "audit.log.0.a", 1, 40)
    lab.put_part("db-1", TODAY, "audit.log.0.b", 1, 20)
    invoke_scanner(manifest_event())
    before = lab.manifests()
    # WHEN the run is repeated (a retried or doubled invocation) THEN nothing is written
    again = invoke_scanner(manifest_event())
    assert (again["written"], again["unchanged"]) == ([], 2)
    assert lab.manifests() == before
    # WHEN a late part of yesterday's file lands and the run comes again
    late = lab.put_part("db-1", YESTERDAY, "audit.log.0.a", 2, 15)
    third = invoke_scanner(manifest_event())
    # THEN exactly one revision of yesterday is appended, keeping what the first listed, plus the late part
    assert len(third["written"]) == 1
    revision = lab.manifests()[-1]
    assert (revision["date"], revision["sequence"], revision["days"]) == (
        YESTERDAY,
        3,
        {YESTERDAY: 3, TODAY: 2},
    )
    (entry,) = revision["files"]
    assert [p["key"] for p in entry["parts"]][-1] == late
    assert entry["bytes"] == lab.ends[("db-1", "audit.log.0.a")]
    code, check = verify_cli(config, tmp_path / "out")
    assert code == 0 and check["clean"] is True


def test_only_yesterday_and_today_are_written(account: EmulatedAccount, config: LabConfig) -> None:
    lab = LabBucket(account, config)
    lab.put_part("db-1", OLDER, "audit.log.0.z", 1, 5)
    lab.put_part("db-1", TODAY, "audit.log.0.b", 1, 5)
    run = write_recent_manifests(lab.s3, lab.bucket, lab.prefix, (YESTERDAY, TODAY))
    assert [o.sequence for o in run.written] == [1]
    assert [m["date"] for m in lab.manifests()] == [TODAY]


def test_a_tampered_part_fails_the_run_but_the_other_instances_are_written(
    account: EmulatedAccount, config: LabConfig, handler_env: None, clock: None
) -> None:
    lab = LabBucket(account, config)
    key = lab.put_part("db-1", YESTERDAY, "audit.log.0.a", 1, 10)
    invoke_scanner(manifest_event())
    lab.s3.delete_object(Bucket=lab.bucket, Key=key)  # a listed part disappears
    lab.put_part("db-2", YESTERDAY, "audit.log.0.a", 1, 10)
    from labkit.backup.errors import BackupError

    with pytest.raises(BackupError, match="db-1/2026-03-01"):
        invoke_scanner(manifest_event())  # a Lambda error: the scanner's errors alarm fires
    assert {(m["instance"], m["date"]) for m in lab.manifests()} == {("db-1", YESTERDAY), ("db-2", YESTERDAY)}


def test_the_schedules_input_is_a_manifest_run_and_a_scheduled_scan_is_not() -> None:
    assert is_manifest_event(json.loads(json.dumps(manifest_event())))
    assert not is_manifest_event({"detail-type": "Scheduled Event", "detail": {}})
    assert not is_manifest_event([])


def test_recent_days_are_utc_calendar_days() -> None:
    from datetime import timedelta, timezone

    # 00:30 on Mar 2 in UTC+2 is still Mar 1 in UTC
    local = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert recent_days(local) == ("2026-02-28", "2026-03-01")
    assert recent_days(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == ("2025-12-31", "2026-01-01")


# --- the local lab: the runtime's scan ticker stands in for the daily rule -------------------------------------
def test_the_daily_tick_invokes_the_manifest_run_once_per_new_utc_day() -> None:
    from datetime import date

    from labkit.local.manifest_tick import DailyManifestTick

    days, sent = [date(2026, 3, 1)], []
    tick = DailyManifestTick(sent.append, today=lambda: days[-1])
    assert [tick(), tick()] == [False, False]  # as on AWS: not at start-up, at the next midnight
    days.append(date(2026, 3, 2))
    assert [tick(), tick(), tick()] == [True, False, False]  # the first scan of the new day runs it, once
    days.append(date(2026, 3, 3))
    assert tick() is True
    assert sent == [manifest_event(), manifest_event()]


def test_the_local_runtime_writes_the_manifests_at_the_first_scan_of_a_new_day(
    account: EmulatedAccount,
    config: LabConfig,
    handler_env: None,
    clock: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import date, timedelta

    from labkit.handlers import scanner
    from labkit.local import manifest_tick
    from labkit.local.runtime import LambdaRuntime

    # GIVEN parts in the lab's bucket and the local runtime driving the real scanner handler
    lab = LabBucket(account, config)
    lab.put_part("db-1", YESTERDAY, "audit.log.0.a", 1, 30)
    lab.put_part("db-1", TODAY, "audit.log.0.b", 1, 30)
    events: list[dict[str, Any]] = []

    def recording_scanner(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return scanner.lambda_handler(event, context)

    runtime = LambdaRuntime(
        config,
        recording_scanner,
        lambda e, c: None,
        lambda e, c: None,
        poll_interval_s=0.05,
        first_tick_s=0.05,
    )
    started_on = runtime.manifest_tick.last_day
    # WHEN the UTC day changes (the runtime's clock is faked: a test must not wait for midnight)
    monkeypatch.setattr(manifest_tick, "utc_today", lambda: started_on + timedelta(days=1))
    assert isinstance(started_on, date)
    runtime.start()
    try:
        # THEN the ticker's next scan is followed by the manifest run, with the rule's input
        lab_service.wait_for("two manifests", lambda: len(lab.manifests()) == 2)
    finally:
        runtime.stop()
    assert [e.get("detail-type") for e in events[:1]] == ["Scheduled Event"]
    assert events[1] == manifest_event() and len(events) == 2  # the scan interval is an hour: no more
    assert runtime.stats()["scanner"]["errors"] == 0
    code, check = verify_cli(config, tmp_path / "out")
    assert code == 0 and check["clean"] is True and check["parts_checked"] == 2


def test_a_run_out_of_time_defers_the_rest_and_the_retry_finishes(
    account: EmulatedAccount, config: LabConfig
) -> None:
    # GIVEN three instances with parts yesterday, and an invocation clock that runs out after the first
    lab = LabBucket(account, config)
    for instance in ("db-1", "db-2", "db-3"):
        lab.put_part(instance, YESTERDAY, "audit.log.0.a", 1, 10)
    clock = iter([60_000, 1_000])
    first = write_recent_manifests(
        lab.s3, lab.bucket, lab.prefix, (YESTERDAY, TODAY), time_left_ms=lambda: next(clock, 0)
    )
    # THEN one is written and the other two are deferred, not skipped silently
    assert len(first.written) == 1 and first.deferred == [f"db-2/{YESTERDAY}", f"db-3/{YESTERDAY}"]
    # AND the retry writes only those, confirming the first without writing it again
    retry = write_recent_manifests(lab.s3, lab.bucket, lab.prefix, (YESTERDAY, TODAY))
    assert (len(retry.written), len(retry.unchanged), retry.deferred) == (2, 1, [])
    assert sorted(m["instance"] for m in lab.manifests()) == ["db-1", "db-2", "db-3"]
