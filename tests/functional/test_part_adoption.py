"""A part is written once: a second write of the same part key is refused by S3 (If-None-Match) and the
copier adopts what the earlier attempt wrote, so a late or repeated write never replaces a part.

Real parts: the emulator's S3 over HTTP (moto implements If-None-Match on PutObject and
CompleteMultipartUpload). Faked: death, as an exception at one S3 call.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from typing import Any

import pytest

from labkit.backup import table as t
from labkit.backup.errors import PartMismatchError
from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter, PartExistsError, existing_part
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import BUCKET, Pipeline, append

MB = 1024 * 1024


def _write(s3: Any, key: str, start: int, data: bytes, part_size: int = 5 * MB) -> GzipPartWriter:
    writer = GzipPartWriter(s3, BUCKET, key, start, part_size=part_size)
    for offset in range(0, len(data), MB):
        writer.write(data[offset : offset + MB])
    return writer


def test_a_second_write_of_a_part_is_refused_and_the_first_stays(pipeline: Pipeline) -> None:
    _write(pipeline.s3, "audit-logs/x/f.part-00001.gz", 0, b"first\n").close({})
    with pytest.raises(PartExistsError):
        _write(pipeline.s3, "audit-logs/x/f.part-00001.gz", 0, b"second, longer\n").close({})
    body = pipeline.s3.get_object(Bucket=BUCKET, Key="audit-logs/x/f.part-00001.gz")["Body"].read()
    assert gzip.decompress(body) == b"first\n"
    assert existing_part(pipeline.s3, BUCKET, "audit-logs/x/f.part-00001.gz").source_end == 6


def test_a_refused_multipart_part_leaves_no_upload_behind(pipeline: Pipeline) -> None:
    key = "audit-logs/x/g.part-00001.gz"
    _write(pipeline.s3, key, 0, b"first\n").close({})
    with pytest.raises(PartExistsError):
        _write(pipeline.s3, key, 0, os.urandom(11 * MB)).close({})
    assert pipeline.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


class DiesAtCopy:
    """S3 whose copy_object (the metadata step after a multipart upload completes) kills the invocation."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "copy_object":
            raise RuntimeError("killed between CompleteMultipartUpload and its metadata")
        return getattr(self._inner, name)


def test_a_multipart_part_whose_writer_died_before_its_metadata_is_measured_from_its_bytes(
    pipeline: Pipeline,
) -> None:
    # GIVEN a multipart part completed by an attempt that died before recording its end and sha256
    key = "audit-logs/x/h.part-00001.gz"
    data = os.urandom(11 * MB)
    with pytest.raises(RuntimeError):
        _write(DiesAtCopy(pipeline.s3), key, 700, data).close({})
    assert "source-end" not in pipeline.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    # WHEN the next attempt adopts it
    part = existing_part(pipeline.s3, BUCKET, key)
    # THEN its range and digest are the bytes it holds, and they are recorded for next time
    assert (part.source_start, part.source_end) == (700, 700 + len(data))
    assert part.sha256 == hashlib.sha256(data).hexdigest()
    meta = pipeline.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    assert (meta["source-start"], meta["source-end"]) == ("700", str(700 + len(data)))


def test_a_copy_finding_its_part_written_by_a_dead_attempt_commits_that_part_and_hands_on_the_rest(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN part 1 written by an attempt that died before its commit, holding the file's first 100 lines
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 100)
    pipeline.detect("db-1")
    [item] = t.instance_items(pipeline.table, "db-1")
    head = active.read_bytes()
    key = PartKey("audit-logs", item["cluster_id"], "db-1", item["date"], item["sk"]).key(1)
    _write(pipeline.s3, key, 0, head).close({})
    # ... and the file grew since, and a scan saw it
    append(active, 100, 50)
    pipeline.detect("db-1")
    # WHEN a copy runs
    outcome = pipeline.downloader().copy("db-1", item["sk"], "7")
    # THEN it adopts part 1 (the first 100 lines), and the rest is left to the next invocation, woken by
    # the hand-over write
    [item] = t.instance_items(pipeline.table, "db-1")
    assert (
        outcome.action == "copied"
        and item["copied_bytes"] == len(head)
        and item["writer"] == "downloader-continue"
    )
    pipeline.copy_all("db-1")
    report = pipeline.reconcile()
    assert report.clean, [f.problems for f in report.files]
    assert report.files[0].s3_bytes == active.stat().st_size


def test_a_part_that_starts_elsewhere_than_the_table_says_fails_the_copy_loudly(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 10)
    pipeline.detect("db-1")
    [item] = t.instance_items(pipeline.table, "db-1")
    key = PartKey("audit-logs", item["cluster_id"], "db-1", item["date"], item["sk"]).key(1)
    _write(pipeline.s3, key, 5, b"x\n").close({})
    with pytest.raises(PartMismatchError, match="labkit verify"):
        pipeline.downloader().copy("db-1", item["sk"], "8")
    [item] = t.instance_items(pipeline.table, "db-1")
    assert item["failures"] == 1 and item["copied_bytes"] == 0
