"""The evidence `labkit verify` judges: what S3 holds per identity, and what each source file holds now.

Both sides are read without the tracking table. S3: every part under the prefix, grouped by the file identity
in its key, decompressed and hashed against the sha256 and byte range its metadata records. Source: every
file DescribeDBLogFiles lists, streamed through DownloadCompleteDBLogFile, with the sha256 of its prefix at
each length some backup of that instance covers (so one pass answers "are these bytes the file's start?").
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.identity import HEAD_CAP, head_of, head_sha, rds_mysql_file_id
from labkit.backup.layout import part_number
from labkit.backup.manifest import part_objects
from labkit.backup.rdslogs import (
    DEFAULT_COMPLETE,
    FILE_GONE,
    INSTANCE_GONE,
    CompleteDownload,
    download_complete_log_file,
    list_log_files,
)
from labkit.errors import LabkitError

MISSING, DUPLICATED, MISATTRIBUTED, UNDETECTED, FAILED, LOST = (
    "missing",
    "duplicated",
    "misattributed",
    "undetected",
    "failed",
    "lost",
)
_CONTENT_ID = re.compile(r"@(?P<sha>[0-9a-f]{16})$")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FIRST_BYTES = 4 * HEAD_CAP  # raw bytes kept: enough for a head however its text is decoded


class SourceUnreadableError(LabkitError):
    """A source file could not be read for the comparison."""


@dataclass
class Backup:
    """One identity's parts in S3, checked for integrity and tiling."""

    instance_id: str
    file_id: str
    keys: list[str] = field(default_factory=list)
    covered: int = 0  # end of the furthest part: the backup claims bytes [0, covered)
    s3_bytes: int = 0
    compressed_bytes: int = 0
    first: bytes = b""  # the file's first raw bytes (up to FIRST_BYTES), from the parts while they tile
    head: bytes | None = None  # the first line, as identity.head_of reads it from the raw bytes
    sha: str = ""  # sha256 of the parts' bytes, in part order
    gap_bytes: int = 0
    overlap_bytes: int = 0
    source_name: str = ""  # the source-file metadata of its last part (the name at copy time)
    broken: bool = False  # a part is corrupt, or the parts do not tile: its bytes are not compared
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Source:
    """One listed source file, as its complete download streamed it."""

    instance_id: str
    name: str
    size: int
    last_written: int
    first: bytes  # the first raw bytes (up to FIRST_BYTES)
    prefix_sha: dict[int, str]

    @property
    def head(self) -> bytes | None:
        return head_of(self.first)

    def expected_id(self, scheme: str) -> str:
        """The identity the detector gives this file ('' when it has no first line yet)."""
        if scheme == "aurora":
            return self.name
        text_head = head_of(self.first.decode("utf-8", "replace").encode())  # what the detector hashes
        return "" if text_head is None else rds_mysql_file_id(self.name, head_sha(text_head))


def id_is_content_keyed(file_id: str) -> bool:
    """``<base name>@<16 hex of the head's sha256>`` (rds-mysql ids since content fingerprints)."""
    return bool(_CONTENT_ID.search(file_id))


def fingerprints(first: bytes) -> set[str]:
    """sha256 of the head the detector may have seen for a file starting with these raw bytes.

    The detector hashes the portion API's text: the raw bytes when they are UTF-8; otherwise invalid bytes
    come back as U+FFFD (and, in the emulator, characters XML cannot carry too). Each reading is accepted."""
    text = first.decode("utf-8", "replace")
    heads = {head_of(first), head_of(text.encode()), head_of(_XML_ILLEGAL.sub("\ufffd", text).encode())}
    return {head_sha(h) for h in heads if h is not None}


def head_matches_id(first: bytes, file_id: str) -> bool:
    """Does a content-keyed id name the file that starts with these raw bytes? (True for other ids.)"""
    match = _CONTENT_ID.search(file_id)
    return not match or any(sha[:16] == match["sha"] for sha in fingerprints(first))


# -- S3 ------------------------------------------------------------------------------------------------
def read_backups(s3: Any, bucket: str, prefix: str) -> list[Backup]:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for obj, ref in part_objects(s3, bucket, prefix):
        grouped[(ref.file.instance_id, ref.file.file_id)].append(obj["Key"])
    return [
        _read_backup(s3, bucket, instance_id, file_id, keys)
        for (instance_id, file_id), keys in sorted(grouped.items())
    ]


def _read_backup(s3: Any, bucket: str, instance_id: str, file_id: str, keys: list[str]) -> Backup:
    b = Backup(instance_id, file_id, sorted(keys, key=lambda k: (part_number(k), k)))
    whole = hashlib.sha256()
    first = bytearray()  # the file's first bytes, across parts while they tile (part 1 can be short)
    for expected, key in enumerate(b.keys, start=1):
        if part_number(key) != expected:
            b.problems.append(
                (DUPLICATED if part_number(key) < expected else MISSING, f"{key}: part {expected} expected")
            )
            b.broken = True
        start, end, meta = _stream_part(s3, bucket, key, b, whole, first)
        if start > b.covered:
            b.gap_bytes += start - b.covered
            b.problems.append((MISSING, f"gap: bytes {b.covered:,}-{start:,} are in no part"))
            b.broken = True
        elif start < b.covered:
            b.overlap_bytes += min(end, b.covered) - start
            b.problems.append(
                (DUPLICATED, f"bytes {start:,}-{min(end, b.covered):,} are in more than one part")
            )
            b.broken = True
        b.covered = max(b.covered, end)
        b.source_name = meta.get("source-file", b.source_name)
    b.sha = whole.hexdigest()
    b.first, b.head = bytes(first), head_of(bytes(first))
    return b


def _stream_part(
    s3: Any, bucket: str, key: str, b: Backup, whole: Any, first: bytearray
) -> tuple[int, int, dict[str, str]]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    meta = answer.get("Metadata", {})
    start, end = _int(meta.get("source-start")), _int(meta.get("source-end"))
    part_hash = hashlib.sha256()
    length = 0
    try:
        for data in _inflate(answer["Body"], b):
            part_hash.update(data)
            whole.update(data)
            if start + length == len(first) < FIRST_BYTES:
                first += data[: FIRST_BYTES - len(first)]
            length += len(data)
    except zlib.error as exc:
        b.problems.append((MISSING, f"{key}: not a whole gzip stream ({exc})"))
        b.broken = True
    b.s3_bytes += length
    if start < 0 or end - start != length:
        b.problems.append((MISSING, f"{key}: records bytes {start}-{end} but holds {length:,}"))
        b.broken = True
    if part_hash.hexdigest() != meta.get("source-sha256"):
        b.problems.append((MISSING, f"{key}: its bytes do not match the sha256 it records"))
        b.broken = True
    return max(start, 0), max(end, start + length, 0), meta


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1  # absent or malformed metadata: reported as a range mismatch


def _inflate(body: Any, b: Backup) -> Iterator[bytes]:
    inflate = zlib.decompressobj(31)
    for chunk in body.iter_chunks(1024 * 1024):
        b.compressed_bytes += len(chunk)
        yield inflate.decompress(chunk)
    yield inflate.flush()


def prefix_sha(s3: Any, bucket: str, b: Backup, length: int) -> str:
    """sha256 of a backup's first ``length`` bytes (read again: only needed for rare suspected duplicates)."""
    digest = hashlib.sha256()
    left = length
    scratch = Backup(b.instance_id, b.file_id)
    for key in b.keys:
        for data in _inflate(s3.get_object(Bucket=bucket, Key=key)["Body"], scratch):
            digest.update(data[:left])
            left -= min(left, len(data))
        if left == 0:
            break
    return digest.hexdigest()


# -- source ------------------------------------------------------------------------------------------------
def read_sources(
    rds: Any,
    credentials: Any,
    instance_id: str,
    lengths: set[int],
    complete: CompleteDownload = DEFAULT_COMPLETE,
) -> list[Source] | None:
    """Every audit file of an instance, downloaded (as ``complete`` says); None when the instance is gone."""
    try:
        listed = list_log_files(rds, instance_id)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in INSTANCE_GONE:
            return None
        raise SourceUnreadableError(
            f"cannot list the log files of {instance_id}: {exc}; retry verify"
        ) from exc
    sources = []
    for f in listed:
        try:
            source = _read_source(rds, credentials, instance_id, f, sorted(lengths), complete)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in FILE_GONE:
                continue  # rotated out between the listing and the download: as if not listed
            if code in INSTANCE_GONE:
                return None
            raise SourceUnreadableError(
                f"cannot download {instance_id} {f['LogFileName']} ({code}): {exc}; retry verify"
            ) from exc
        sources.append(source)
    return sources


def _read_source(
    rds: Any,
    credentials: Any,
    instance_id: str,
    f: dict[str, Any],
    targets: list[int],
    complete: CompleteDownload,
) -> Source:
    running = hashlib.sha256()
    snapshots = {0: running.hexdigest()}
    first = bytearray()
    seen = 0
    pending = [n for n in targets if n > 0]
    chunks = download_complete_log_file(rds, credentials, instance_id, f["LogFileName"], settings=complete)
    for chunk in chunks:
        if len(first) < FIRST_BYTES:
            first += chunk[: FIRST_BYTES - len(first)]
        used = 0
        while pending and pending[0] - seen <= len(chunk) - used:
            take = pending[0] - seen
            running.update(chunk[used : used + take])
            used += take
            seen += take
            snapshots[pending.pop(0)] = running.hexdigest()
        running.update(chunk[used:])
        seen += len(chunk) - used
    return Source(instance_id, f["LogFileName"], seen, int(f["LastWritten"]), bytes(first), snapshots)
