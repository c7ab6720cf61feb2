"""Where backups live in S3: partitioned for Athena/DuckDB, and never outside the prefix.

``<prefix>/cluster=<c>/instance=<i>/date=YYYY-MM-DD/<file>.part-00001.gz``

Each object carries, as S3 metadata, the sha256 and byte range of the source bytes it holds and the source
file's LastWritten, so a reconciliation can prove coverage without trusting the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from labkit.backup.errors import BadInputError

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,62}")
_NUMBER = re.compile(r"\.part-(\d{5,})\.gz$")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # the date= partition
# what PartKey.key builds; parse() also checks that rebuilding the fields gives the key back
_KEY = re.compile(
    r"(?P<prefix>.*?)/cluster=(?P<cluster>[^/]+)/instance=(?P<instance>[^/]+)/date=(?P<date>[^/]+)"
    r"/(?P<file>[^/]+)\.part-(?P<part>\d{5,})\.gz"  # 5 digits, zero-padded; more past 99,999
)


def check_identifier(value: str, what: str) -> str:
    """RDS identifiers: a letter, then letters, digits and hyphens (at most 63)."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise BadInputError(
            f"invalid {what} {value!r}: expected an RDS identifier (letters, digits, hyphens)"
        )
    return value


def safe_segment(name: str) -> str:
    """One key segment from any file name: no '/', no '..', nothing a tool could read as a path."""
    encoded = quote(name, safe="-_.=@")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    return encoded or "%00"


@dataclass(frozen=True)
class PartKey:
    prefix: str
    cluster_id: str
    instance_id: str
    date: str
    file_id: str

    @property
    def file_prefix(self) -> str:
        return (
            f"{self.prefix}/cluster={safe_segment(self.cluster_id)}/instance={check_identifier(self.instance_id, 'instance id')}"
            f"/date={self.date}/{safe_segment(self.file_id)}.part-"
        )

    def key(self, part: int) -> str:
        """Part numbers are zero-padded to 5 digits (the keys written so far) and grow past 99,999: sort
        parts by :func:`part_number`, not by key."""
        if part < 1:
            raise BadInputError(f"part numbers start at 1, got {part}")
        return f"{self.file_prefix}{part:05d}.gz"

    @classmethod
    def parse(cls, key: str) -> PartRef | None:
        """The file and part number of a key :meth:`key` built; None for any other key (a manifest, a
        stray object, a key no writer of this layout makes). Every reader of the archive parses here."""
        match = _KEY.fullmatch(key)
        if not match or not _IDENTIFIER.fullmatch(match["instance"]) or not DAY.fullmatch(match["date"]):
            return None
        file = cls(
            match["prefix"],
            unquote(match["cluster"]),
            match["instance"],
            match["date"],
            unquote(match["file"]),
        )
        part = int(match["part"])
        if part < 1 or file.key(part) != key:  # not the canonical spelling: no writer made it
            return None
        return PartRef(file, part, key)


@dataclass(frozen=True)
class PartRef:
    """One part object: the file it belongs to, its number, its key."""

    file: PartKey
    part: int
    key: str


def part_number(key: str) -> int:
    """The number a part key ends with (for ordering a file's parts); whether an object is a part of this
    layout at all is :meth:`PartKey.parse`'s to say."""
    match = _NUMBER.search(key)
    if not match:
        raise BadInputError(f"not a part key: {key}")
    return int(match.group(1))
