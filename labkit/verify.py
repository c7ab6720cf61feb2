"""Reconciliation: for every audit file ever detected, do the S3 parts hold exactly the source bytes?

Each part is decompressed and hashed (streaming) and checked against the sha256 and byte range it records;
the ranges must tile the file from byte 0 with no gap and no overlap; and, while the source still exists,
the concatenation must equal the source's first bytes (DownloadCompleteDBLogFile, streamed and hashed).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup import table as t
from labkit.backup.layout import PartKey, part_number
from labkit.backup.rdslogs import download_complete_log_file, list_log_files

GONE = ("DBLogFileNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")


@dataclass
class FileCheck:
    instance_id: str
    file_id: str
    name: str
    state: str
    size: int
    copied_bytes: int
    s3_bytes: int = 0
    parts: int = 0
    compressed_bytes: int = 0
    source_checked: bool = False
    missing: int = 0  # bytes the source has (or had) that S3 lacks, beyond what is still being copied
    duplicated: int = 0  # bytes held by more than one part
    pending: int = 0  # bytes of a live file not copied yet (backup lag, not loss)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Reconciliation:
    files: list[FileCheck]

    @property
    def missing(self) -> list[FileCheck]:
        return [f for f in self.files if f.missing or any("mismatch" in p or "gap" in p for p in f.problems)]

    @property
    def duplicated(self) -> list[FileCheck]:
        return [f for f in self.files if f.duplicated]

    @property
    def lost(self) -> list[FileCheck]:
        return [f for f in self.files if f.state == t.LOST]

    @property
    def clean(self) -> bool:
        return all(f.ok for f in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "source_bytes": sum(f.size for f in self.files),
            "backed_up_bytes": sum(f.s3_bytes for f in self.files),
            "compressed_bytes": sum(f.compressed_bytes for f in self.files),
            "pending_bytes": sum(f.pending for f in self.files),
            "missing_files": len(self.missing),
            "duplicated_files": len(self.duplicated),
            "lost_files": len(self.lost),
            "lost_bytes": sum(f.size - f.copied_bytes for f in self.lost),
            "clean": self.clean,
        }


def reconcile(table: Any, s3: Any, rds: Any, credentials: Any, bucket: str, prefix: str) -> Reconciliation:
    return Reconciliation(
        [check_file(item, s3, rds, credentials, bucket, prefix) for item in t.all_items(table)]
    )


def check_file(
    item: dict[str, Any], s3: Any, rds: Any, credentials: Any, bucket: str, prefix: str
) -> FileCheck:
    check = FileCheck(
        item["pk"], item["sk"], item["log_file_name"], item["state"], item["size"], item["copied_bytes"]
    )
    key_prefix = PartKey(prefix, item["cluster_id"], item["pk"], item["date"], item["sk"]).file_prefix
    keys = sorted(
        (
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
            for obj in page.get("Contents", [])
        ),
        key=part_number,
    )
    backup = hashlib.sha256()
    covered = 0
    for expected, key in enumerate(keys, start=1):
        if part_number(key) != expected:
            check.problems.append(f"part numbers not contiguous at {key}")
        start, end, length = _check_part(s3, bucket, key, backup, check)
        if start > covered:
            check.problems.append(f"gap: bytes {covered}-{start} are in no part")
            check.missing += start - covered
        elif start < covered:
            check.duplicated += covered - start
            check.problems.append(f"duplicate: bytes {start}-{covered} are in more than one part")
        covered = max(covered, end)
        check.s3_bytes += length
    check.parts = len(keys)
    if covered != item["copied_bytes"]:
        check.problems.append(f"table says {item['copied_bytes']} bytes copied, S3 parts cover {covered}")
    if item["state"] == t.FAILED:
        check.problems.append(
            f"copy FAILED after {item.get('failures', '?')} attempts: {item.get('last_error', '')}"
        )
    if item["state"] == t.LOST:
        return check  # reported as lost upstream; what was copied was checked above
    _compare_with_source(item, rds, credentials, backup.hexdigest(), covered, check)
    return check


def _check_part(s3: Any, bucket: str, key: str, backup: Any, check: FileCheck) -> tuple[int, int, int]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    meta = answer.get("Metadata", {})
    start, end = int(meta.get("source-start", -1)), int(meta.get("source-end", -1))
    inflate = zlib.decompressobj(31)
    part_hash = hashlib.sha256()
    length = 0
    for chunk in answer["Body"].iter_chunks(1024 * 1024):
        check.compressed_bytes += len(chunk)
        data = inflate.decompress(chunk)
        part_hash.update(data)
        backup.update(data)
        length += len(data)
    tail = inflate.flush()
    part_hash.update(tail)
    backup.update(tail)
    length += len(tail)
    if start < 0 or end - start != length:
        check.problems.append(f"{key}: records bytes {start}-{end} but holds {length}")
    if part_hash.hexdigest() != meta.get("source-sha256"):
        check.problems.append(f"{key}: sha256 mismatch with its recorded source hash")
    return start, end, length


def _compare_with_source(
    item: dict[str, Any], rds: Any, credentials: Any, backup_sha: str, covered: int, check: FileCheck
) -> None:
    source = hashlib.sha256()
    seen = 0
    try:
        name = _current_name(rds, item)
        for chunk in download_complete_log_file(rds, credentials, item["pk"], name):
            take = chunk[: max(0, covered - seen)]
            source.update(take)
            seen += len(chunk)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in GONE:
            raise
        if item["copied_bytes"] < item["size"]:
            check.missing += item["size"] - item["copied_bytes"]
            check.problems.append(
                "source gone and not every byte was copied, but the file is not marked LOST"
            )
        return
    check.source_checked = True
    if seen < covered:
        check.problems.append(f"source has {seen} bytes, fewer than the {covered} backed up")
    elif source.hexdigest() != backup_sha:
        check.problems.append("mismatch: backed-up bytes differ from the source")
    remaining = seen - covered
    if item.get("sealed") and remaining > 0 and item["state"] == t.BACKED_UP:
        check.missing += remaining
        check.problems.append(f"gap: {remaining} source bytes after the backup of a sealed file")
    else:
        check.pending = remaining


def _current_name(rds: Any, item: dict[str, Any]) -> str:
    """rds-mysql names shift at rotation: a sealed file is found again by its (size, LastWritten)."""
    if item.get("scheme") != "rds-mysql" or not item.get("sealed"):
        return str(item["log_file_name"])
    for f in list_log_files(rds, item["pk"]):
        if (f["Size"], f["LastWritten"]) == (item["size"], item["last_written"]):
            return str(f["LogFileName"])
    return str(item["log_file_name"])
