"""An independent count of the events in a backup: every part read, without the query engine or its regex.

Each file's parts are joined in part order and split on ``\\n`` (the server escapes newlines inside
statements). A line is an event when its first fields are well formed: the first six
(timestamp, server host, user, client host, connection id, query id) never hold a comma, so the seventh
comma-separated field is the operation whatever the SQL text after it holds.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from labkit.dashboard.state import list_part_objects, parse_part_key

_TIMESTAMP = re.compile(rb"\d{15,16}|\d{8} \d{2}:\d{2}:\d{2}")
_NUMBER = re.compile(rb"\d*")
_OPERATION = re.compile(rb"[A-Z_]+")


@dataclass
class ArchiveCount:
    events_per_operation: Counter[str] = field(default_factory=Counter)
    other_lines: int = 0  # non-empty lines that are no event
    parts: int = 0
    part_bytes: int = 0


def count_archive(s3: Any, bucket: str, prefix: str) -> ArchiveCount:
    count = ArchiveCount()
    files: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    for obj in list_part_objects(s3, bucket, prefix):
        fields = parse_part_key(obj["Key"])
        assert fields is not None
        files[(fields["cluster_id"], fields["instance_id"], fields["file_id"])].append(
            (fields["part"], obj["Key"])
        )
        count.parts += 1
        count.part_bytes += int(obj["Size"])
    for parts in files.values():
        text = b"".join(
            zlib.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), 31)
            for _, key in sorted(parts)
        )
        for line in text.split(b"\n"):
            line = line.removesuffix(b"\r")
            if not line:
                continue
            fields = line.split(b",", 8)
            if (
                len(fields) == 9
                and _TIMESTAMP.fullmatch(fields[0])
                and _NUMBER.fullmatch(fields[4])
                and _NUMBER.fullmatch(fields[5])
                and _OPERATION.fullmatch(fields[6])
            ):
                count.events_per_operation[fields[6].decode()] += 1
            else:
                count.other_lines += 1
    return count
