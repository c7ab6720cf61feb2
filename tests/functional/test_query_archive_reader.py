"""The archive reader gives every line of a backed-up file exactly once, whole, in the part it starts in,
wherever the part boundaries fall: generated files (lines with ``\\r``, empty lines, invalid UTF-8, no final
newline, lines longer than a part) cut into generated parts, written to the emulator's S3 over HTTP with the
downloader's own part writer, read back by :func:`labkit.query.archive.read_texts` and, through the engine,
by DuckDB. The expectation is computed here from the source bytes alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter
from labkit.query import DuckDBEngine
from labkit.query.archive import Partition, list_files, list_partitions, read_texts
from tests.support.emulated import empty_bucket, emulated_s3

BUCKET, PREFIX = "reader-bucket", "audit-logs"

line_bytes = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),  # anything, invalid UTF-8 included
    st.text(max_size=30).map(lambda t: t.replace("\n", "").encode()),
    st.sampled_from([b"", b"\r", b"a\r", b"\r\r", b"caf\xc3", b"\xc3\xa9\r", b"x" * 300]),
)


@st.composite
def cut_files(draw: st.DrawFn) -> list[tuple[bytes, list[int]]]:
    """A few files: (bytes, cut offsets) — the parts are the bytes between consecutive cuts."""
    files = []
    for _ in range(draw(st.integers(1, 3))):
        lines = draw(st.lists(line_bytes, min_size=1, max_size=12))
        data = b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))
        if not data:
            data = b"\n"
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=5))))
        files.append((data, [c for c in cuts if 0 < c < len(data)]))
    return files


def expected(s3_keys: list[str], data: bytes, cuts: list[int]) -> list[tuple[str, str]]:
    """(source key, line): split on b"\\n", one trailing b"\\r" dropped, decoded with U+FFFD; the key is the
    part holding the line's first byte."""
    bounds = [0, *cuts]
    out, start = [], 0
    for raw in data.split(b"\n")[: -1 if data.endswith(b"\n") else None]:
        part = max(i for i, b in enumerate(bounds) if b <= start)
        out.append((s3_keys[part], raw.removesuffix(b"\r").decode("utf-8", errors="replace")))
        start += len(raw) + 1
    return out


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with emulated_s3(BUCKET) as client:
        yield client


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=cut_files(), workers=st.integers(1, 3))
def test_every_line_once_whole_in_the_part_it_starts_in(s3: Any, files: Any, workers: int) -> None:
    empty_bucket(s3, BUCKET)
    want: list[tuple[str, str]] = []
    for n, (data, cuts) in enumerate(files):
        key = PartKey(PREFIX, "c", "i", "2026-12-01", f"audit/audit.log.{n}")
        keys = []
        for number, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(data)], strict=True), 1):
            writer = GzipPartWriter(s3, BUCKET, key.key(number), start)
            writer.write(data[start:end])
            writer.close({})
            keys.append(f"s3://{BUCKET}/{key.key(number)}")
        want.extend(expected(keys, data, cuts))
    partitions = list_partitions(s3, BUCKET, PREFIX)
    # WHEN the reader reads the partition, a few parts ahead
    got = [
        (text.source_key, line)
        for text in read_texts(s3, BUCKET, list_files(s3, BUCKET, partitions), workers=workers)
        for line in text.text.split("\n")
    ]
    # THEN every line comes back once, whole, with the key of the part it starts in, in file order
    assert got == want
    # AND the engine's table holds the same lines (DuckDB splits the texts)
    engine = DuckDBEngine(s3, BUCKET, PREFIX)
    engine.load()
    rows = engine.sql_loaded("SELECT source_key, line FROM audit_events").itertuples(index=False)
    assert sorted(map(tuple, rows)) == sorted(want)


def test_a_partition_with_no_parts_reads_nothing(s3: Any) -> None:
    empty_bucket(s3, BUCKET)
    empty = Partition("c", "i", "2026-12-01", f"{PREFIX}/cluster=c/instance=i/date=2026-12-01/")
    assert list_files(s3, BUCKET, [empty]) == []
