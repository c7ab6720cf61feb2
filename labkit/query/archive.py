"""Read backup parts from S3 as lines: only the partitions asked for, each file's parts in order.

The local engine gets its lines here, through boto3, rather than through DuckDB's httpfs extension. Tried
here: the extension loads offline (``LOAD`` of the file the ``duckdb-ext-httpfs==1.4.4.*`` wheel ships) and
reads the emulator's bucket (``s3_endpoint``, path style, no SSL), but reading the objects with it would be
wrong in two ways a user notices: (1) DuckDB's CSV reader rejects a line with non-UTF-8 bytes (or,
told to ignore errors, drops it), and (2) a part boundary can fall inside a line (the downloader copies byte
ranges), which a per-object reader sees as two broken lines. Here each file's parts are joined, the bytes
are decoded as UTF-8 with U+FFFD for invalid bytes (what Athena's text reader does), and a line is split on
``\\n`` only (a trailing ``\\r`` is dropped; the server escapes newlines inside statements).

Pruning: the bucket is listed with a ``/`` delimiter level by level (cluster, instance, date), and only the
date prefixes in the asked range (and the asked instance) are listed further and read.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.errors import BadInputError
from labkit.backup.layout import part_number
from labkit.query.errors import QueryError
from labkit.query.schema import PARTITION_COLUMNS

_CLUSTER, _INSTANCE, _DATE = PARTITION_COLUMNS


@dataclass(frozen=True)
class Partition:
    cluster: str  # as in the key (layout.safe_segment of the cluster id)
    instance: str
    date: str
    prefix: str  # ends with "/"


@dataclass
class FileLines:
    partition: Partition
    lines: list[str]
    source_keys: list[str]  # s3://bucket/key of the part each line starts in


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


def read_partition(s3: Any, bucket: str, partition: Partition) -> Iterator[FileLines]:
    """Each backed-up file in the partition, as lines (parts joined in part-number order)."""
    files: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key in _keys(s3, bucket, partition.prefix):
        try:
            number = part_number(key)
        except BadInputError:  # not a part (a manifest, a stray object): no audit lines
            continue
        files[key[: key.rindex(".part-")]].append((number, key))
    for file_key in sorted(files):
        yield _file_lines(s3, bucket, partition, [key for _, key in sorted(files[file_key])])


def _file_lines(s3: Any, bucket: str, partition: Partition, keys: list[str]) -> FileLines:
    out = FileLines(partition, [], [])
    fragment, fragment_source = b"", ""
    for key in keys:
        source = f"s3://{bucket}/{key}"
        data = fragment + _gunzip(s3, bucket, key)
        end = data.rfind(b"\n")
        if end < 0:
            fragment, fragment_source = data, fragment_source or source
            continue
        lines = data[:end].decode("utf-8", errors="replace").split("\n")
        out.lines.extend(line[:-1] if line.endswith("\r") else line for line in lines)
        out.source_keys.append(fragment_source or source)
        out.source_keys.extend([source] * (len(lines) - 1))
        fragment, fragment_source = data[end + 1 :], (source if end + 1 < len(data) else "")
    if fragment:
        line = fragment.decode("utf-8", errors="replace")
        out.lines.append(line[:-1] if line.endswith("\r") else line)
        out.source_keys.append(fragment_source)
    return out


def _gunzip(s3: Any, bucket: str, key: str) -> bytes:
    body = _call(s3.get_object, bucket, Bucket=bucket, Key=key)["Body"]
    inflater = zlib.decompressobj(31)
    chunks = [inflater.decompress(chunk) for chunk in body.iter_chunks(1024 * 1024)]
    chunks.append(inflater.flush())
    return b"".join(chunks)


def _children(s3: Any, bucket: str, prefix: str) -> list[str]:
    children: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in _call(lambda: list(pages), bucket):
        children.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return children


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in _call(lambda: list(pages), bucket) for o in page.get("Contents", [])]


def _value(prefix: str, name: str) -> str | None:
    segment = prefix.rstrip("/").rsplit("/", 1)[-1]
    head, sep, value = segment.partition("=")
    return value if sep and head == name else None


def _call(function: Any, bucket: str, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except ClientError as exc:
        raise QueryError(
            f"cannot read the backup bucket {bucket} ({exc.response['Error']['Code']}): deploy the lab "
            "(labkit local up) or check the target, region and credentials"
        ) from exc
