"""A part of a file that is not sealed ends at a line end: Athena reads every gzip part on its own, so a line
split over two parts would be two broken rows in every search. An aurora file is copied while it grows, and
the listed size can fall inside a line being written: the bytes after the last newline wait for the next copy.

Real parts: the emulator over HTTP (RDS log-file APIs, S3, DynamoDB), real files written byte for byte."""

from __future__ import annotations

import gzip
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.backup.layout import PartKey, part_number
from labkit.backup.s3parts import GzipPartWriter
from labkit.backup.streamfilter import CONTINUE_WRITER, DOWNLOADER_WRITER
from tests.support.emulated import EmulatedAccount
from tests.support.pages import PIECES, CappedPages
from tests.support.pipeline import BUCKET, PREFIX, Pipeline, append, copy_until_done, only_item
from tests.support.stream_lab import StreamLab, stream_lab

HALF = b"20261126 15:29:22,vm,u,h,1,3,QUERY,db,'SELECT 'HAL"  # a line MariaDB is still writing
REST = b"F',0\n"
_instances = itertools.count()


def parts_of(pipeline: Pipeline, item: dict[str, Any]) -> list[bytes]:
    """The item's parts in S3, in part order, unzipped."""
    prefix = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).file_prefix
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    keys = sorted((o["Key"] for o in listed), key=part_number)
    return [gzip.decompress(pipeline.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]


def write_on(path: Path, data: bytes) -> None:
    """The server writes on: ``data`` appended as it comes (a line may stay unfinished)."""
    with open(path, "ab") as handle:
        handle.write(data)


def seal(directory: Path) -> Path:
    """Rotate the active file out (an aurora name follows its file), old enough to be sealed."""
    rotated = directory / "server_audit.log.1"
    os.rename(directory / "server_audit.log", rotated)
    os.utime(rotated, (1_700_000_000, 1_700_000_000))
    (directory / "server_audit.log").write_bytes(b"next\n")
    return rotated


def test_a_growing_file_listed_inside_a_line_is_copied_in_parts_ending_at_line_ends(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an active aurora file listed while its last line is half written
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    append(active, 0, 100)
    write_on(active, HALF)
    pipeline.detect("db-1")
    # WHEN it is copied
    copy_until_done(pipeline, "db-1")
    # THEN the part ends at the last line end, and the table says so: the half line waits
    item = only_item(pipeline)
    [first] = parts_of(pipeline, item)
    assert first.endswith(b"\n"), first[-60:]
    assert item["copied_bytes"] == len(first) == item["size"] - len(HALF)
    assert item["state"] == t.PARTIAL
    # WHEN the line is finished, the file grows (again to the middle of a line), and it is copied again
    write_on(active, REST)
    append(active, 100, 50)
    write_on(active, HALF)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    parts = parts_of(pipeline, only_item(pipeline))
    assert len(parts) == 2 and all(p.endswith(b"\n") for p in parts), [p[-30:] for p in parts]
    # WHEN it is sealed, its last line never finished, and it is copied to the end
    rotated = seal(directory)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    # THEN every part but the sealed file's last ends with a newline, and S3 holds the file exactly
    item = t.get_item(pipeline.table, item["pk"], item["sk"]) or {}
    parts = parts_of(pipeline, item)
    assert all(p.endswith(b"\n") for p in parts[:-1]), [p[-30:] for p in parts]
    assert parts[-1] == HALF
    assert b"".join(parts) == rotated.read_bytes()
    assert item["copied_bytes"] == item["size"] == rotated.stat().st_size and item["state"] == t.BACKED_UP


def test_verify_calls_a_held_back_line_of_an_active_file_pending_not_missing(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an active file that is only a line being written: detected, nothing to copy yet
    active = account.add_instance("db-1") / "server_audit.log"
    active.write_bytes(HALF)
    pipeline.detect("db-1")
    assert copy_until_done(pipeline, "db-1")[-1].action == "nothing-new"
    item = only_item(pipeline)
    assert parts_of(pipeline, item) == [] and item["copied_bytes"] == 0 and "lease_owner" not in item
    # THEN verify (no grace at all: the file was listed long ago) calls its bytes pending, not missing
    [row] = pipeline.reconcile().files
    assert row.ok and row.status == "pending" and row.pending == len(HALF) and row.missing == 0, row
    # WHEN the line is finished and another one is half written, and the file is copied
    write_on(active, REST)
    append(active, 0, 10)
    write_on(active, HALF)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    # THEN S3 holds the whole lines, and the held-back line is pending, not missing
    item = only_item(pipeline)
    assert item["copied_bytes"] == item["size"] - len(HALF) and item["state"] == t.PARTIAL
    report = pipeline.reconcile()
    [row] = report.files
    assert report.clean and row.pending == len(HALF) and row.missing == 0, row
    assert row.s3_bytes == item["copied_bytes"]


def test_a_part_an_older_version_ended_inside_a_line_is_adopted_as_it_is(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN part 1 written by an older version (it ended inside a line) that died before its commit
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 100)
    write_on(active, HALF)
    pipeline.detect("db-1")
    item = only_item(pipeline)
    old = active.read_bytes()
    writer = GzipPartWriter(
        pipeline.s3, BUCKET, PartKey(PREFIX, item["cluster_id"], "db-1", item["date"], item["sk"]).key(1), 0
    )
    writer.write(old)
    writer.close({})
    # ... and the line was finished since, the file grew, and a scan saw it
    write_on(active, REST)
    append(active, 100, 20)
    pipeline.detect("db-1")
    # WHEN it is copied
    copy_until_done(pipeline, "db-1")
    # THEN part 1 is kept as it is, and part 2 starts with the rest of that line and ends at a line end
    item = only_item(pipeline)
    parts = parts_of(pipeline, item)
    assert parts[0] == old and parts[1].startswith(REST) and parts[-1].endswith(b"\n")
    assert b"".join(parts) == active.read_bytes() and item["copied_bytes"] == item["size"]
    assert pipeline.reconcile().clean


def test_a_copy_that_read_the_file_unsealed_hands_on_the_line_it_held_back_once_sealed(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a copy that read the item before the detector recorded the seal (its last line never finished)
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 10)
    write_on(directory / "server_audit.log", HALF)
    pipeline.detect("db-1")
    stale = only_item(pipeline)
    rotated = seal(directory)
    pipeline.detect("db-1")
    assert t.get_item(pipeline.table, stale["pk"], stale["sk"])["sealed"]  # type: ignore[index]
    real, reads = t.get_item, iter([stale])
    monkeypatch.setattr(t, "get_item", lambda *a: next(reads, None) or real(*a))
    # WHEN it copies: it holds the partial line back, as for an unsealed file
    assert pipeline.downloader().copy(stale["pk"], stale["sk"], "1").action == "copied"
    monkeypatch.setattr(t, "get_item", real)
    # THEN its commit hands on (the seal's own record may have been given up on its lease)
    item = real(pipeline.table, stale["pk"], stale["sk"]) or {}
    assert item["copied_bytes"] == item["size"] - len(HALF) and item["writer"] == CONTINUE_WRITER
    # ... and the copy it wakes copies the rest
    assert pipeline.downloader().copy(item["pk"], item["sk"], "2").action == "copied"
    item = real(pipeline.table, stale["pk"], stale["sk"]) or {}
    assert item["copied_bytes"] == item["size"] == rotated.stat().st_size and item["state"] == t.BACKED_UP
    assert item["writer"] == DOWNLOADER_WRITER


@pytest.fixture
def lab(account: EmulatedAccount, tmp_path: Path) -> StreamLab:
    return stream_lab(account, tmp_path, stream_max_retries=3)


def test_new_bytes_without_a_newline_wake_nothing_until_the_file_grows_or_is_sealed(
    lab: StreamLab, account: EmulatedAccount
) -> None:
    # GIVEN an active file whose whole lines are copied, the stream quiet
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    append(active, 0, 50)
    lab.detect("db-1")
    lab.settle()
    [item] = lab.items("db-1")
    copied, parts = item["copied_bytes"], item["parts"]
    assert copied == item["size"] and parts == 1
    # WHEN only half a line is written, and a scan lists it
    write_on(active, HALF)
    assert lab.detect("db-1").changed == 1
    # THEN the stream goes quiet after one copy that writes nothing: no part, no table write, no new record
    records = lab.stream_records()
    assert lab.settle() <= 3
    [item] = lab.items("db-1")
    assert (item["copied_bytes"], item["parts"], item["size"]) == (copied, parts, copied + len(HALF))
    assert lab.stream_records() == records
    invoked = sum(lab.invocations.values())
    for _ in range(10):
        assert not lab.runtime.poll_stream()
    assert sum(lab.invocations.values()) == invoked
    # WHEN the line is finished and half of the next one written THEN the next scan's write wakes a copy
    write_on(active, REST + HALF)
    lab.detect("db-1")
    lab.settle()
    [item] = lab.items("db-1")
    assert item["copied_bytes"] == copied + len(HALF + REST) and item["parts"] == parts + 1
    # WHEN the file is sealed with its last line never finished THEN the seal wakes the copy of the rest
    rotated = seal(directory)
    lab.detect("db-1", seal_after_s=0.0)
    lab.settle()
    item = t.get_item(lab.table, item["pk"], item["sk"]) or {}
    assert item["copied_bytes"] == item["size"] == rotated.stat().st_size and item["state"] == t.BACKED_UP


# lines of random pieces (non-UTF-8 bytes, \r, empty lines), some longer than any page drawn below
piece_lines = st.lists(st.sampled_from(PIECES), max_size=12).map(lambda p: b"".join(p) + b"\n")
long_lines = st.integers(min_value=301, max_value=3_000).map(lambda n: b"'" + b"\xe9x" * (n // 2) + b"\n")
source_lines = st.lists(st.one_of(piece_lines, piece_lines, piece_lines, long_lines), min_size=1, max_size=20)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=source_lines,
    last=st.lists(st.sampled_from(PIECES), max_size=6).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=5),
    caps=st.lists(st.integers(min_value=40, max_value=300), min_size=1, max_size=6),
    time_left=st.lists(st.booleans(), min_size=1, max_size=8),
    sealed=st.booleans(),
)
def test_parts_of_a_growing_file_end_at_line_ends_and_hold_the_file_once(
    pipeline: Pipeline,
    account: EmulatedAccount,
    lines: list[bytes],
    last: bytes,
    cuts: list[int],
    caps: list[int],
    time_left: list[bool],
    sealed: bool,
) -> None:
    # GIVEN a file planned byte for byte, listed at sizes anywhere (mostly inside a line), paged with random
    # page sizes, and copied by invocations that may run out of time at any check
    content = b"".join(lines) + last
    instance = f"db-l{next(_instances)}"
    directory = account.add_instance(instance)
    active = directory / "server_audit.log"
    active.touch()
    capped = CappedPages(account.rds, itertools.cycle(caps))
    clock = itertools.cycle(time_left)
    downloader = pipeline.downloader(rds=capped, remaining_ms=lambda: 900_000 if next(clock) else 0)
    written = 0
    for stop in sorted({c * len(content) // 1_000_000 for c in cuts} | {len(content)}):
        write_on(active, content[written:stop])
        written = stop
        pipeline.detect(instance)
        capped.paths = {i["log_file_name"]: active for i in t.instance_items(pipeline.table, instance)}
        copy_until_done(pipeline, instance, downloader)
        # THEN every part ends at a line end, S3 holds the file's first bytes once, within the listed size
        item = only_item(pipeline, instance)
        parts = parts_of(pipeline, item)
        assert all(p.endswith(b"\n") for p in parts), [p[-20:] for p in parts]
        assert b"".join(parts) == content[: item["copied_bytes"]]
        assert item["copied_bytes"] <= item["size"] == written
        assert item["copied_bytes"] <= content.rfind(b"\n", 0, written) + 1
    if not sealed:
        return
    # WHEN the file is sealed and copied to its end
    capped.paths = {item["log_file_name"]: seal(directory)}
    pipeline.detect(instance)
    copy_until_done(pipeline, instance, downloader)
    # THEN S3 holds every byte once; only the last part may end inside a line (the file's own last line)
    item = t.get_item(pipeline.table, item["pk"], item["sk"]) or {}
    parts = parts_of(pipeline, item)
    assert all(p.endswith(b"\n") for p in parts[:-1]), [p[-20:] for p in parts]
    assert b"".join(parts) == content
    assert item["copied_bytes"] == item["size"] == len(content) and item["state"] == t.BACKED_UP
