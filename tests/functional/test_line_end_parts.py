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

from labkit.backup import table as t
from labkit.backup.layout import PartKey, part_number
from tests.conftest import EmulatedAccount
from tests.functional.test_downloader_bytes import copy_until_done, only_item
from tests.functional.test_pipeline_core import BUCKET, PREFIX, Pipeline, append

HALF = b"20261126 15:29:22,vm,u,h,1,3,QUERY,db,'SELECT 'HAL"  # a line MariaDB is still writing
REST = b"F',0\n"
_instances = itertools.count()


def parts_of(pipeline: Pipeline, item: dict[str, Any]) -> list[bytes]:
    """The item's parts in S3, in part order, unzipped."""
    prefix = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).file_prefix
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    keys = sorted((o["Key"] for o in listed), key=part_number)
    return [gzip.decompress(pipeline.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]


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
    with open(active, "ab") as handle:
        handle.write(HALF)
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
    with open(active, "ab") as handle:
        handle.write(REST)
    append(active, 100, 50)
    with open(active, "ab") as handle:
        handle.write(HALF)
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
