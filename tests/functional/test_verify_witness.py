"""`labkit verify` as an independent witness: each fault is injected into the emulated account (S3 objects
written with the project's own GzipPartWriter/PartKey, table items through boto3, source files on disk) and
must be caught; a clean rds-mysql lab must stay clean after its oldest file rotated out."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labkit.backup import table as t
from labkit.backup.identity import head_of, head_sha, rds_mysql_file_id
from labkit.backup.layout import PartKey
from labkit.backup.rdslogs import list_log_files
from labkit.backup.s3parts import GzipPartWriter
from labkit.backup.table import table_definition
from labkit.verify import Reconciliation, reconcile
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import BUCKET, PREFIX, Pipeline, append

OLD = 1_700_000_000  # an mtime long past: the file is quiet, not "just written"


def lines(first: int, count: int) -> bytes:
    return b"".join(audit_line(i) for i in range(first, first + count))


def write_file(path: Path, data: bytes, mtime: int | None = OLD) -> None:
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def put_part(
    pipeline: Pipeline,
    instance_id: str,
    file_id: str,
    number: int,
    start: int,
    data: bytes,
    name: str = "",
    prefix: str = PREFIX,
    replace: bool = False,
) -> None:
    """One backup part exactly as the downloader writes it (``replace``: tamper with an existing part, which
    the downloader never does: its writes are refused when the key exists)."""
    key = PartKey(prefix, f"{instance_id}-cluster", instance_id, "2026-12-04", file_id).key(number)
    if replace:
        pipeline.s3.delete_object(Bucket=BUCKET, Key=key)
    writer = GzipPartWriter(pipeline.s3, BUCKET, key, start)
    writer.write(data)
    writer.close({"source-file": name or file_id, "source-last-written": "0", "instance": instance_id})


def put_item(pipeline: Pipeline, instance_id: str, sk: str, name: str, **fields: Any) -> None:
    """A tracking-table item as the detector and downloader leave it."""
    item: dict[str, Any] = {
        "pk": instance_id,
        "sk": sk,
        "cluster_id": f"{instance_id}-cluster",
        "engine": "aurora-mysql",
        "scheme": "rds-mysql" if "@" in sk else "aurora",
        "log_file_name": name,
        "size": 0,
        "last_written": OLD * 1000,
        "sealed": True,
        "state": t.BACKED_UP,
        "copied_bytes": 0,
        "marker": "",
        "parts": 1,
        "date": "2026-12-04",
        "first_seen": OLD * 1000,
        "updated_at": OLD * 1000,
        **fields,
    }
    if "vanished_at" not in item:
        item[t.LIVE_KEY] = instance_id
    pipeline.table.put_item(Item=item)


def content_id(name: str, data: bytes) -> str:
    head = head_of(data)
    assert head is not None
    return rds_mysql_file_id(name, head_sha(head))


def aurora_names(account: EmulatedAccount, instance_id: str) -> list[str]:
    return sorted(f["LogFileName"] for f in list_log_files(account.rds, instance_id))


def row(report: Reconciliation, file_id: str) -> Any:
    [found] = [f for f in report.files if f.file_id == file_id]
    return found


# --- faults ---------------------------------------------------------------------------------------------
def test_bytes_of_one_file_under_another_files_identity_are_misattributed(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN C rotated out unseen; D (now .1) was taken for C, so D's bytes sit under C's identity
    directory = account.add_instance("db-1", scheme="rds-mysql")
    c_bytes, d_bytes = lines(0, 1_000), lines(30_000, 1_000)
    write_file(directory / "server_audit.log.1", d_bytes)
    write_file(directory / "server_audit.log", lines(50_000, 10))
    c_id = content_id("audit/server_audit.log", c_bytes)
    put_part(pipeline, "db-1", c_id, 1, 0, d_bytes, "audit/server_audit.log.1")
    put_item(
        pipeline,
        "db-1",
        c_id,
        "audit/server_audit.log.1",
        size=len(d_bytes),
        copied_bytes=len(d_bytes),
        head_sha=head_sha(head_of(c_bytes) or b""),
    )
    active = content_id("audit/server_audit.log", lines(50_000, 10))
    put_item(
        pipeline,
        "db-1",
        active,
        "audit/server_audit.log",
        size=len(lines(50_000, 10)),
        sealed=False,
        state=t.DETECTED,
        parts=0,
    )
    # WHEN verified
    report = pipeline.reconcile()
    # THEN C's identity is misattributed, and D (whose bytes are only under C's name) was never detected
    assert [f.file_id for f in report.misattributed] == [c_id]
    assert [f.name for f in report.undetected] == ["audit/server_audit.log.1"]
    assert row(report, active).status == "pending" and row(report, active).ok
    assert not report.clean and not report.passed(accept_lost=True)


def test_an_aurora_name_holding_another_files_bytes_is_misattributed(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    first, second = lines(0, 500), lines(1_000, 500)
    write_file(directory / "server_audit.log.1", first)
    write_file(directory / "server_audit.log", second, mtime=OLD + 10)
    older, newer = aurora_names(account, "db-1")
    put_part(pipeline, "db-1", older, 1, 0, second)  # the newer file's bytes under the older name
    put_part(pipeline, "db-1", newer, 1, 0, second)
    put_item(pipeline, "db-1", older, older, size=len(second), copied_bytes=len(second))
    put_item(pipeline, "db-1", newer, newer, size=len(second), copied_bytes=len(second))
    report = pipeline.reconcile()
    assert [f.file_id for f in report.misattributed] == [older]
    assert row(report, newer).ok


@pytest.mark.parametrize("source_listed", [True, False])
def test_the_same_bytes_under_two_identities_are_a_duplicate(
    pipeline: Pipeline, account: EmulatedAccount, source_listed: bool
) -> None:
    # GIVEN one file backed up under its content id and again under an id of the older name@LastWritten form
    directory = account.add_instance("db-1", scheme="rds-mysql")
    data = lines(0, 2_000)
    write_file(directory / "server_audit.log", lines(9_000, 5))
    if source_listed:
        write_file(directory / "server_audit.log.1", data)
    own, legacy = content_id("audit/server_audit.log", data), f"audit/server_audit.log@{OLD * 1000}"
    gone = {} if source_listed else {"vanished_at": OLD * 1000}
    for file_id in (own, legacy):
        put_part(pipeline, "db-1", file_id, 1, 0, data[:50_000])
        put_part(pipeline, "db-1", file_id, 2, 50_000, data[50_000:])
        put_item(
            pipeline,
            "db-1",
            file_id,
            "audit/server_audit.log.1",
            size=len(data),
            copied_bytes=len(data),
            parts=2,
            **gone,
        )
    put_item(
        pipeline,
        "db-1",
        content_id("audit/server_audit.log", lines(9_000, 5)),
        "audit/server_audit.log",
        size=len(lines(9_000, 5)),
        sealed=False,
        state=t.DETECTED,
        parts=0,
    )
    report = pipeline.reconcile()
    # THEN exactly one of the two is reported, with the duplicated byte count; the other is the backup
    [double] = report.duplicated
    assert double.file_id == legacy and double.duplicated == len(data)
    assert row(report, own).ok
    assert report.summary()["duplicated_files"] == 1 and not report.clean


def test_bytes_skipped_between_parts_are_missing(pipeline: Pipeline, account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    data = lines(0, 3_000)
    write_file(directory / "server_audit.log.1", data)
    write_file(directory / "server_audit.log", lines(5_000, 5))
    sealed, active = aurora_names(account, "db-1")
    put_part(pipeline, "db-1", sealed, 1, 0, data[:40_000])
    put_part(pipeline, "db-1", sealed, 2, 41_234, data[41_234:])  # bytes 40,000-41,234 skipped
    put_item(pipeline, "db-1", sealed, sealed, size=len(data), copied_bytes=len(data), parts=2)
    put_item(pipeline, "db-1", active, active, size=len(lines(5_000, 5)), state=t.DETECTED, sealed=False)
    report = pipeline.reconcile()
    assert [f.file_id for f in report.missing] == [sealed]
    assert row(report, sealed).missing == 1_234
    assert row(report, active).status == "pending"


def test_a_vanished_file_the_table_calls_backed_up_but_s3_lacks_its_tail_is_missing(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    account.add_instance("db-1")
    data = lines(0, 1_000)
    put_part(pipeline, "db-1", "audit/old.log", 1, 0, data[:30_000])
    put_item(
        pipeline,
        "db-1",
        "audit/old.log",
        "audit/old.log",
        size=len(data),
        copied_bytes=len(data),
        vanished_at=OLD * 1000,
    )
    report = pipeline.reconcile()
    assert [f.file_id for f in report.missing] == ["audit/old.log"]
    assert row(report, "audit/old.log").missing == len(data) - 30_000


def test_a_source_file_never_detected_is_reported_unless_just_written(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    known, unknown = lines(0, 400), lines(10_000, 300)
    write_file(directory / "server_audit.log.1", known)
    write_file(directory / "server_audit.log", unknown, mtime=OLD + 60)
    tracked, untracked = aurora_names(account, "db-1")
    put_part(pipeline, "db-1", tracked, 1, 0, known)
    put_item(pipeline, "db-1", tracked, tracked, size=len(known), copied_bytes=len(known))
    report = pipeline.reconcile()
    assert [(f.name, f.missing) for f in report.undetected] == [(untracked, len(unknown))]
    assert not report.clean
    # a file written within the grace period is not detected *yet*: pending, not a fault
    recent = reconcile(
        pipeline.table,
        pipeline.s3,
        account.rds,
        account.session.get_credentials(),
        BUCKET,
        PREFIX,
        grace_s=60.0,
        now_ms=(OLD + 90) * 1000,
    )
    assert recent.clean and row(recent, untracked).status == "pending"


def test_lost_files_are_counted_with_their_lost_bytes_and_fail_unless_accepted(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file that vanished after 10,000 of its bytes were copied, marked LOST
    account.add_instance("db-1")
    data = lines(0, 1_000)
    put_part(pipeline, "db-1", "audit/gone.log", 1, 0, data[:10_000])
    put_item(
        pipeline,
        "db-1",
        "audit/gone.log",
        "audit/gone.log",
        size=len(data),
        copied_bytes=10_000,
        state=t.LOST,
        lost_bytes=len(data) - 10_000,
        vanished_at=OLD * 1000,
    )
    put_item(
        pipeline,
        "db-1",
        "audit/never.log",
        "audit/never.log",
        size=5_000,
        state=t.LOST,
        lost_bytes=5_000,
        vanished_at=OLD * 1000,
        parts=0,
    )
    report = pipeline.reconcile()
    summary = report.summary()
    assert summary["lost_files"] == 2 and summary["lost_bytes"] == len(data) - 10_000 + 5_000
    assert not report.clean and not report.passed() and report.passed(accept_lost=True)
    # AND `labkit verify` exits 1, or 0 with --accept-lost
    from labkit import cli
    from labkit import verify as report_module

    monkeypatch.setattr(report_module, "reconcile_target", lambda *_a, **_k: report)
    runner = CliRunner()
    out = Path(account.tmp) / "out"
    assert runner.invoke(cli.app, ["verify", "--json", "--out", str(out)]).exit_code == 1
    accepted = runner.invoke(cli.app, ["verify", "--json", "--accept-lost", "--out", str(out)])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.output)["lost_bytes"] == len(data) - 10_000 + 5_000
    shown = runner.invoke(cli.app, ["verify", "--out", str(out)], terminal_width=250)
    assert shown.exit_code == 1 and f"lost 2 ({len(data) - 5_000:,} bytes)" in shown.output, shown.output


def test_a_file_called_lost_whose_bytes_are_all_in_s3_is_not_counted_lost(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    account.add_instance("db-1")
    data = lines(0, 100)
    put_part(pipeline, "db-1", "audit/x.log", 1, 0, data)
    put_item(
        pipeline,
        "db-1",
        "audit/x.log",
        "audit/x.log",
        size=len(data),
        copied_bytes=len(data),
        state=t.LOST,
        lost_bytes=len(data),
        vanished_at=OLD * 1000,
    )
    report = pipeline.reconcile()
    assert report.clean and report.summary()["lost_bytes"] == 0


# --- a clean lab stays clean ------------------------------------------------------------------------------
def rotate(directory: Path, keep: int) -> None:
    """MariaDB server_audit's rotation: .keep is dropped, .n -> .n+1, the active file -> .1."""
    (directory / f"server_audit.log.{keep}").unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        if (directory / f"server_audit.log.{n}").exists():
            os.rename(directory / f"server_audit.log.{n}", directory / f"server_audit.log.{n + 1}")
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    (directory / "server_audit.log").touch()


def test_a_clean_rds_mysql_lab_is_clean_after_its_oldest_files_rotated_out(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN rotations keeping two old files, with one scan and one copy round per rotation
    directory = account.add_instance("db-1", scheme="rds-mysql")
    written = 0
    for generation in range(4):
        append(directory / "server_audit.log", generation * 10_000, 500 + generation)
        written += (directory / "server_audit.log").stat().st_size
        time.sleep(0.002)  # distinct LastWritten per file, as on a real server
        rotate(directory, keep=2)
        pipeline.detect("db-1", scheme="rds-mysql")
        pipeline.copy_all("db-1")
    # WHEN verified THEN nothing is wrong: two files rotated out fully copied, the last two still listed
    report = pipeline.reconcile()
    assert report.clean, [(f.file_id, f.problems) for f in report.files] + report.gaps
    assert sum(f.status == "rotated out" for f in report.files) == 2
    listed = [f for f in report.files if f.source_checked]
    assert sorted(f.name for f in listed) == ["audit/server_audit.log.1", "audit/server_audit.log.2"]
    assert report.summary()["backed_up_bytes"] == written


def test_a_history_of_one_scan_period_is_a_gap_not_clean(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN one old file kept and a rotation between every two looks, each look right after a rotation:
    # the active file is empty at every look, so no look can tell one rotation (nothing lost) from two (the
    # file that was empty at the last look got bytes and was deleted unseen)
    directory = account.add_instance("db-1", scheme="rds-mysql")
    for generation in range(3):
        append(directory / "server_audit.log", generation * 10_000, 50)
        time.sleep(0.002)
        rotate(directory, keep=1)
        pipeline.detect("db-1", scheme="rds-mysql")
        pipeline.copy_all("db-1")
    # THEN the witness finds every byte it can see in S3, and yet the verdict is not clean: gaps are open
    report = pipeline.reconcile()
    assert all(f.ok for f in report.files) and not report.clean
    assert report.summary()["gaps"] == 2 and not report.passed(accept_lost=True)


# --- every tiling of a file ---------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(min_value=1, max_value=400),
    cuts=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=5),
    fault=st.sampled_from(["none", "drop", "overlap"]),
)
def test_any_tiling_of_a_file_is_clean_and_any_dropped_or_repeated_part_is_caught(
    pipeline: Pipeline, account: EmulatedAccount, count: int, cuts: list[float], fault: str
) -> None:
    # GIVEN a sealed file split into parts at random byte offsets (fresh table and prefix per example)
    pipeline.seq += 1
    instance = f"db-{pipeline.seq}"
    directory = account.add_instance(instance)
    data = lines(pipeline.seq * 1_000, count)
    write_file(directory / "server_audit.log.1", data)
    [name] = aurora_names(account, instance)
    bounds = sorted({0, len(data), *(int(c * len(data)) for c in cuts)})
    ranges = list(itertools.pairwise(bounds))
    if fault == "drop" and len(ranges) > 1:
        del ranges[len(ranges) // 2]
    elif fault == "overlap" and len(ranges) > 1:
        ranges[-1] = (ranges[-1][0] - 1, ranges[-1][1])  # one byte held twice
    else:
        fault = "none"
    for number, (start, end) in enumerate(ranges, start=1):
        put_part(pipeline, instance, name, number, start, data[start:end], prefix=instance)
    table_name = f"{instance}-table"
    pipeline.account.client("dynamodb").create_table(**table_definition(table_name))
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(table_name)
    table.put_item(
        Item={
            "pk": instance,
            "sk": name,
            "log_file_name": name,
            "size": len(data),
            "copied_bytes": len(data),
            "state": t.BACKED_UP,
            "sealed": True,
            "scheme": "aurora",
        }
    )
    # WHEN verified THEN clean exactly when the parts tile the file
    report = reconcile(table, pipeline.s3, account.rds, account.session.get_credentials(), BUCKET, instance)
    mine = report.files
    assert all(f.ok for f in mine) == (fault == "none"), [f.problems for f in mine]
    if fault == "none":
        assert mine[0].s3_bytes == len(data) and mine[0].source_checked


def test_a_file_whose_first_line_is_not_utf8_keeps_its_content_identity(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an rds-mysql file whose first line holds bytes the portion API cannot return as they are
    directory = account.add_instance("db-1", scheme="rds-mysql")
    first_line = b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9\xff\x01',0\n"
    write_file(directory / "server_audit.log", first_line + lines(1, 300), mtime=None)
    pipeline.detect("db-1", scheme="rds-mysql")
    rotate(directory, keep=2)
    append(directory / "server_audit.log", 5_000, 10)
    pipeline.detect("db-1", scheme="rds-mysql")
    pipeline.copy_all("db-1")
    # WHEN verified THEN the identity the detector derived from the decoded text is accepted as its bytes'
    report = pipeline.reconcile()
    assert report.clean, [(f.file_id, f.problems) for f in report.files]
    [sealed] = [f for f in report.files if f.name == "audit/server_audit.log.1"]
    assert sealed.source_checked and sealed.s3_bytes == len(first_line + lines(1, 300))


def test_backed_up_bytes_that_differ_from_the_source_are_caught_and_a_shared_first_line_is_not(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN two aurora files that begin with the same line, and a third whose backup has one byte changed
    # (its part's recorded sha256 is of the changed bytes: only the source can tell)
    directory = account.add_instance("db-1")
    same = audit_line(7)
    files = {
        "server_audit.log.2": same + lines(100, 200),
        "server_audit.log.1": same + lines(900, 250),
        "server_audit.log": lines(5_000, 300),
    }
    for offset, (name, data) in enumerate(files.items()):
        write_file(directory / name, data, mtime=OLD + offset)
    names = aurora_names(account, "db-1")
    for name, data in zip(names, files.values(), strict=True):
        stored = data if name != names[2] else data[:500] + b"X" + data[501:]
        put_part(pipeline, "db-1", name, 1, 0, stored)
        put_item(pipeline, "db-1", name, name, size=len(data), copied_bytes=len(data))
    report = pipeline.reconcile()
    assert [f.file_id for f in report.missing] == [names[2]], [(f.file_id, f.problems) for f in report.files]
    assert "differ" in report.missing[0].problems[0]
    assert row(report, names[0]).ok and row(report, names[1]).ok


def s3_files(pipeline: Pipeline, instance_id: str) -> dict[str, bytes]:
    """Every identity's bytes in S3, read straight from the objects (the test's own ground truth)."""
    import gzip
    from urllib.parse import unquote

    from labkit.backup.layout import part_number

    keys: dict[str, list[str]] = {}
    for page in pipeline.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/"):
        for obj in page.get("Contents", []):
            if f"/instance={instance_id}/" in obj["Key"]:
                file_id = unquote(obj["Key"].rsplit("/", 1)[1].rsplit(".part-", 1)[0])
                keys.setdefault(file_id, []).append(obj["Key"])
    return {
        file_id: b"".join(
            gzip.decompress(pipeline.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
            for k in sorted(found, key=part_number)
        )
        for file_id, found in keys.items()
    }


def copy_round(pipeline: Pipeline, instance_id: str) -> None:
    """What the stream would trigger, once per tracked file; a copy that finds its file rotated away since
    the scan gives up (SourceChangedError) and is retried after the next scan, as the stream retries it."""
    from labkit.backup.errors import SourceChangedError

    for item in t.instance_items(pipeline.table, instance_id):
        pipeline.seq += 1
        with contextlib.suppress(SourceChangedError):
            pipeline.downloader().copy(item["pk"], item["sk"], str(pipeline.seq))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keep=st.integers(min_value=1, max_value=3),
    steps=st.lists(
        st.tuples(st.integers(min_value=1, max_value=40), st.booleans(), st.booleans()),
        min_size=1,
        max_size=5,
    ),
)
def test_verify_calls_an_rds_mysql_history_clean_exactly_when_every_seen_file_is_in_s3_once(
    pipeline: Pipeline, account: EmulatedAccount, keep: int, steps: list[tuple[int, bool, bool]]
) -> None:
    # GIVEN rotations with scans and copies skipped at random, then a final scan and copy round
    pipeline.seq += 1
    instance = f"db-{pipeline.seq}"
    directory = account.add_instance(instance, scheme="rds-mysql")
    active = directory / "server_audit.log"
    generations: list[bytes] = []
    seen: set[int] = set()  # generations on disk at some scan: the pipeline had a chance to know them
    for g, (count, scan, copy) in enumerate(steps):
        append(active, pipeline.seq * 100_000 + g * 1_000, count)
        generations.append(active.read_bytes())
        rotate(directory, keep)
        on_disk = {g2 for g2 in range(len(generations)) if g2 > g - keep}
        if scan:
            pipeline.detect(instance, scheme="rds-mysql")
            seen |= on_disk
        if copy:
            copy_round(pipeline, instance)
    pipeline.detect(instance, scheme="rds-mysql")
    seen |= {g2 for g2 in range(len(generations)) if g2 > len(generations) - 1 - keep}
    copy_round(pipeline, instance)
    copy_round(pipeline, instance)  # the second settles what the first copied (BACKED_UP)
    # WHEN verified
    rows = [f for f in pipeline.reconcile().files if f.instance_id == instance]
    clean = all(f.ok for f in rows)
    # THEN clean exactly when S3 holds each seen generation once (or, while it is still on disk, nothing or a
    # prefix of it: pending), under one identity each, and nothing else
    stored = list(s3_files(pipeline, instance).values())
    on_disk = {g for g in range(len(generations)) if g >= len(generations) - keep}
    accounted = 0
    exact = True
    for g in seen:
        full = stored.count(generations[g])
        partial = sum(1 for b in stored if b != generations[g] and generations[g].startswith(b))
        exact &= (full, partial) == (1, 0) or (g in on_disk and full == 0 and partial <= 1)
        accounted += full + partial
    exact &= accounted == len(stored)
    event(f"clean={clean}")  # both outcomes occur (pytest --hypothesis-show-statistics)
    assert clean == exact, ([(f.file_id, f.status, f.problems) for f in rows], len(stored), sorted(seen))


def test_an_aurora_file_copied_mid_first_line_is_matched_by_its_name_and_pending(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    data = lines(0, 50)
    write_file(directory / "server_audit.log", data)
    [name] = aurora_names(account, "db-1")
    put_part(pipeline, "db-1", name, 1, 0, data[:30])  # copied while the first line was being written
    put_item(pipeline, "db-1", name, name, size=len(data), copied_bytes=30, state=t.PARTIAL, sealed=False)
    report = pipeline.reconcile()
    assert report.clean, [(f.file_id, f.problems) for f in report.files]
    assert row(report, name).pending == len(data) - 30 and row(report, name).source_checked
    # AND had those 30 bytes been another file's, it is caught
    put_part(pipeline, "db-1", name, 1, 0, b"X" + data[1:30], replace=True)
    assert [f.file_id for f in pipeline.reconcile().missing] == [name]


def test_an_instance_the_scanner_should_cover_but_never_reached_shows_its_files_undetected(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-2", scheme="rds-mysql")
    write_file(directory / "server_audit.log.1", lines(0, 100))
    write_file(directory / "server_audit.log", lines(500, 10), mtime=None)  # being written: pending
    args = (pipeline.table, pipeline.s3, account.rds, account.session.get_credentials(), BUCKET, PREFIX)
    assert reconcile(*args).files == []  # the table and S3 know nothing of it
    # verify's clock is given: 1 ms after the active file's LastWritten, whatever the machine's speed
    written = max(int(f["LastWritten"]) for f in list_log_files(account.rds, "db-2"))
    report = reconcile(*args, grace_s=3600, now_ms=written + 1, covered={"db-2": "rds-mysql"})
    assert [f.name for f in report.undetected] == ["audit/server_audit.log.1"]
    assert [f.status for f in report.files if f.name == "audit/server_audit.log"] == ["pending"]


def test_a_part_that_is_not_gzip_or_lacks_its_metadata_is_reported_not_a_crash(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    data = lines(0, 100)
    write_file(directory / "server_audit.log", data)
    [name] = aurora_names(account, "db-1")
    key = PartKey(PREFIX, "db-1-cluster", "db-1", "2026-12-04", name).key(1)
    pipeline.s3.put_object(Bucket=BUCKET, Key=key, Body=b"\x1f\x8b\x08\x00 not gzip at all")
    put_item(pipeline, "db-1", name, name, size=len(data), copied_bytes=len(data))
    [f] = pipeline.reconcile().files
    assert f.kinds == {"missing"} and any("gzip" in p for p in f.problems), f.problems


def test_bytes_after_a_backed_up_file_are_missing_unless_written_since_the_last_scan_could_see_them(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    data = lines(0, 200)
    write_file(directory / "server_audit.log", data)
    [name] = aurora_names(account, "db-1")
    put_part(pipeline, "db-1", name, 1, 0, data)
    put_item(pipeline, "db-1", name, name, size=len(data), copied_bytes=len(data))
    append(directory / "server_audit.log", 1_000, 5)  # written after the copy
    args = (pipeline.table, pipeline.s3, account.rds, account.session.get_credentials(), BUCKET, PREFIX)
    grown = (directory / "server_audit.log").stat().st_size - len(data)
    # verify's clock is given, relative to the LastWritten the append left (not read off the wall: the
    # kernel stamps mtime with a clock that can fall in the very millisecond verify reads, making it pending)
    [written] = [int(f["LastWritten"]) for f in list_log_files(account.rds, "db-1")]
    # a scan 1 ms after the write could see it: the bytes the backup lacks are MISSING
    assert [f.missing for f in reconcile(*args, now_ms=written + 1).missing] == [grown]
    # a scan in the write's own millisecond, or one within the grace period, may not have: pending
    for now_ms, grace_s in ((written, 0.0), (written + 1, 3600.0), (written + 3_600_000, 3600.0)):
        [f] = reconcile(*args, now_ms=now_ms, grace_s=grace_s).files
        assert f.ok and f.pending == grown, (now_ms - written, grace_s, f.problems)
    # and once the grace period has passed, they are MISSING again
    assert [f.missing for f in reconcile(*args, now_ms=written + 3_600_001, grace_s=3600).missing] == [grown]
