"""Read backup parts from S3 as text: only the partitions asked for, each file's parts in order.

The local engine gets its lines here, through boto3, rather than through DuckDB's httpfs extension. Tried
here: the extension loads offline (``LOAD`` of the file the ``duckdb-ext-httpfs==1.4.4.*`` wheel ships) and
reads the emulator's bucket (``s3_endpoint``, path style, no SSL), but reading the objects with it would be
wrong in two ways a user notices: (1) DuckDB's CSV reader rejects a line with non-UTF-8 bytes (or,
told to ignore errors, drops it), and (2) a part boundary can fall inside a line in parts written before the
downloader ended unsealed parts at line ends, which a per-object reader sees as two broken lines. Here each file's parts are joined, the bytes
are decoded as UTF-8 with U+FFFD for invalid bytes (what Athena's text reader does), and a line is split on
``\\n`` only (a trailing ``\\r`` is dropped; the server escapes newlines inside statements).

Speed: parts are fetched and gunzipped by a small thread pool (zlib and the socket reads release the GIL)
a bounded number of parts ahead of the reader, so memory stays at a few parts; a part comes back as one
string of whole lines (:class:`PartText`), which the engine splits in DuckDB, not as a Python string per line.

Pruning: the bucket is listed with a ``/`` delimiter level by level (cluster, instance, date), and only the
date prefixes in the asked range (and the asked instance) are listed further and read.
"""

from __future__ import annotations

import zlib
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from labkit import aws
from labkit.backup.layout import PartKey
from labkit.query.errors import QueryError
from labkit.query.schema import PARTITION_COLUMNS

_CLUSTER, _INSTANCE, _DATE = PARTITION_COLUMNS


@dataclass(frozen=True)
class Partition:
    cluster: str  # as in the key (layout.safe_segment of the cluster id)
    instance: str
    date: str
    prefix: str  # ends with "/"


@dataclass(frozen=True)
class PartText:
    """Lines that start in one part: joined by ``\\n`` (none at the end), a ``\\r`` before each line end
    dropped, invalid UTF-8 as U+FFFD. A line the part boundary cut is whole, in the part it starts in."""

    partition: Partition
    source_key: str  # s3://bucket/key of the part
    text: str
    file_key: str = ""  # the file's key (ArchivedFile.key)


def list_partitions(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    instance: str | None = None,
    first_date: date | None = None,
    last_date: date | None = None,
) -> list[Partition]:
    """The date partitions under ``prefix`` for ``instance`` (None: all) within the dates (None: open)."""
    found: list[Partition] = []
    root = prefix.rstrip("/") + "/"
    for cluster_prefix in _children(s3, bucket, root):
        cluster = _value(cluster_prefix, _CLUSTER)
        if cluster is None:
            continue
        if instance is not None:
            instance_prefixes = [f"{cluster_prefix}{_INSTANCE}={instance}/"]
        else:
            instance_prefixes = _children(s3, bucket, cluster_prefix)
        for instance_prefix in instance_prefixes:
            instance_id = _value(instance_prefix, _INSTANCE)
            if instance_id is None:
                continue
            for date_prefix in _children(s3, bucket, instance_prefix):
                day = _value(date_prefix, _DATE)
                if day is None or (first_date and day < first_date.isoformat()):
                    continue
                if last_date and day > last_date.isoformat():
                    continue
                found.append(Partition(cluster, instance_id, day, date_prefix))
    return found


@dataclass(frozen=True)
class ArchivedFile:
    """One backed-up file as S3 lists it now: its parts' keys and ETags in part-number order."""

    partition: Partition
    key: str  # the parts' common key, without ".part-NNNNN.gz"
    parts: tuple[tuple[str, str], ...]  # (key, ETag)


def list_files(s3: Any, bucket: str, partitions: list[Partition], *, workers: int = 4) -> list[ArchivedFile]:
    """The backed-up files of the partitions, listed a few partitions at a time."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labkit-archive") as pool:
        return [f for files in pool.map(lambda p: _files(s3, bucket, p), partitions) for f in files]


def read_texts(s3: Any, bucket: str, files: list[ArchivedFile], *, workers: int = 4) -> Iterator[PartText]:
    """Each file's lines, part by part in order, as :class:`PartText`; at most ``2 * workers`` parts are
    fetched ahead of the caller. A part is read only if it is still the object listed (its ETag)."""
    parts = [(file, index) for file in files for index in range(len(file.parts))]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labkit-archive") as pool:
        ahead: deque[Future[bytes]] = deque()
        fragment, fragment_source = b"", ""
        for n, (file, index) in enumerate(parts):
            while len(ahead) < 2 * workers and n + len(ahead) < len(parts):
                later, later_index = parts[n + len(ahead)]
                ahead.append(pool.submit(_gunzip, s3, bucket, *later.parts[later_index]))
            data = ahead.popleft().result()
            source = f"s3://{bucket}/{file.parts[index][0]}"
            if index == 0:
                fragment, fragment_source = b"", ""
            if fragment:  # the line the previous part's end cut, whole, in the part it starts in
                cut = data.find(b"\n")
                if cut < 0:
                    fragment += data
                    data = b""
                else:
                    yield PartText(file.partition, fragment_source, _text(fragment + data[:cut]), file.key)
                    fragment, data = b"", data[cut + 1 :]
            end = data.rfind(b"\n")
            if end >= 0:
                yield PartText(file.partition, source, _text(data[:end]), file.key)
                fragment, fragment_source = data[end + 1 :], source
            elif data:
                fragment, fragment_source = data, source
            if fragment and index == len(file.parts) - 1:  # the file ends without a newline
                yield PartText(file.partition, fragment_source, _text(fragment), file.key)
                fragment = b""


def _text(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return text[:-1] if text.endswith("\r") else text


def _files(s3: Any, bucket: str, partition: Partition) -> list[ArchivedFile]:
    files: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for key, etag in _keys(s3, bucket, partition.prefix):
        ref = PartKey.parse(key)
        if ref is None:  # not a part (a manifest, a stray object): no audit lines
            continue
        files[ref.file.file_prefix.removesuffix(".part-")].append((ref.part, key, etag))
    return [
        ArchivedFile(partition, file_key, tuple((key, etag) for _, key, etag in sorted(files[file_key])))
        for file_key in sorted(files)
    ]


def _gunzip(s3: Any, bucket: str, key: str, etag: str) -> bytes:
    body = _call(s3.get_object, bucket, Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    return zlib.decompress(body.read(), 31)


def _children(s3: Any, bucket: str, prefix: str) -> list[str]:
    children: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in _call(lambda: list(pages), bucket):
        children.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return children


def _keys(s3: Any, bucket: str, prefix: str) -> list[tuple[str, str]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [
        (o["Key"], o["ETag"]) for page in _call(lambda: list(pages), bucket) for o in page.get("Contents", [])
    ]


def _value(prefix: str, name: str) -> str | None:
    segment = prefix.rstrip("/").rsplit("/", 1)[-1]
    head, sep, value = segment.partition("=")
    return value if sep and head == name else None


def _call(function: Any, bucket: str, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except ClientError as exc:
        if aws.error_code(exc) in ("PreconditionFailed", "412"):
            raise QueryError(
                f"{kwargs.get('Key')} changed in s3://{bucket} while it was read: run the query again"
            ) from exc
        raise QueryError(
            f"cannot read the backup bucket {bucket} ({exc.response['Error']['Code']}): deploy the lab "
            "(labkit local up) or check the target, region and credentials"
        ) from exc
    except BotoCoreError as exc:  # the endpoint went away mid-read: nothing half-read is kept
        raise QueryError(
            f"cannot reach the backup bucket {bucket} ({exc}): is the lab up? run again"
        ) from exc
