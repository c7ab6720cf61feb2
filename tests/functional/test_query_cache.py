"""The local engine's cache never answers from stale or doubled lines: whatever S3 did between two loads
(parts added to a growing file, a part cut mid-line continued, files deleted, a part replaced under the same
key, a load stopped half-way), a later engine on the same cache file answers exactly what an independent
reading of S3 gives now, and reads only the files that changed.

Real parts: the emulator's S3 over HTTP, the downloader's part writer, DuckDB files on disk. The one thing
injected is the stop: a GetObject that raises after N calls (a crash mid-load), and a tiny batch size so a
stop lands between committed batches.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter
from labkit.query import DuckDBEngine
from labkit.query import duckdb_engine as engine_module
from labkit.query.errors import QueryError
from tests.support.emulated import empty_bucket, emulated_s3

BUCKET, PREFIX = "cache-bucket", "audit-logs"
DAYS = ("2026-12-01", "2026-12-02")


class Source:
    """What the test wrote to S3, file by file: the bytes and the part keys, to compute the expectation."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.files: dict[tuple[str, str, str], tuple[bytes, list[tuple[str, int]]]] = {}

    def key(self, instance: str, day: str, name: str) -> PartKey:
        return PartKey(PREFIX, "c", instance, day, name)

    def append(self, instance: str, day: str, name: str, data: bytes) -> None:
        """The next part of the file (a file grows by parts, as the downloader writes them)."""
        old, parts = self.files.get((instance, day, name), (b"", []))
        key = self.key(instance, day, name).key(len(parts) + 1)
        writer = GzipPartWriter(self.s3, BUCKET, key, len(old))
        writer.write(data)
        writer.close({})
        self.files[(instance, day, name)] = (old + data, [*parts, (key, len(old))])

    def delete(self, instance: str, day: str, name: str) -> None:
        _, parts = self.files.pop((instance, day, name))
        for key, _ in parts:
            self.s3.delete_object(Bucket=BUCKET, Key=key)

    def replace_first_part(self, instance: str, day: str, name: str, data: bytes) -> None:
        """Someone with delete rights rewrote part 1 (what verify's witness tamper does)."""
        old, parts = self.files[(instance, day, name)]
        key, _ = parts[0]
        end = parts[1][1] if len(parts) > 1 else len(old)
        self.s3.delete_object(Bucket=BUCKET, Key=key)
        writer = GzipPartWriter(self.s3, BUCKET, key, 0)
        writer.write(data)
        writer.close({})
        shift = len(data) - end
        self.files[(instance, day, name)] = (
            data + old[end:],
            [(key, 0)] + [(k, start + shift) for k, start in parts[1:]],
        )

    def expected(self, instances: set[str] | None = None) -> Counter[tuple[str, str]]:
        """(source key, line) for every line now in S3: split on \\n, one \\r dropped, U+FFFD for bad bytes,
        the key of the part holding the line's first byte."""
        out: Counter[tuple[str, str]] = Counter()
        for (instance, _, _), (data, parts) in self.files.items():
            if instances is not None and instance not in instances:
                continue
            start = 0
            for raw in data.split(b"\n")[: -1 if data.endswith(b"\n") else None]:
                key = [k for k, s in parts if s <= start][-1]
                out[(f"s3://{BUCKET}/{key}", raw.removesuffix(b"\r").decode("utf-8", errors="replace"))] += 1
                start += len(raw) + 1
        return out


class Reads:
    """The real client, counting GetObject calls by key; after ``fail_after`` reads, the next one raises."""

    def __init__(self, s3: Any, fail_after: int | None = None) -> None:
        self.s3, self.fail_after, self.keys = s3, fail_after, []

    def get_paginator(self, name: str) -> Any:
        return self.s3.get_paginator(name)

    def get_object(self, **kwargs: Any) -> Any:
        if self.fail_after is not None and len(self.keys) >= self.fail_after:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/the-load-stopped-here")
        self.keys.append(kwargs["Key"])
        return self.s3.get_object(**kwargs)


def rows(engine: DuckDBEngine) -> Counter[tuple[str, str]]:
    frame = engine.sql_loaded("SELECT source_key, line FROM audit_events")
    return Counter(zip(frame.source_key, frame.line, strict=True))


@pytest.fixture(scope="module", name="emulated")
def emulated_fixture() -> Iterator[Any]:
    with emulated_s3(BUCKET) as client:
        yield client


@pytest.fixture
def s3(emulated: Any) -> Any:
    empty_bucket(emulated, BUCKET)
    return emulated


def line(n: int, text: str = "SELECT 1") -> bytes:
    return f"{1_764_547_200_000_000 + n},aurora-1,app,10.0.0.1,{n},{n},QUERY,db,'{text}',0\n".encode()


def test_a_later_engine_reads_only_what_changed_and_answers_what_s3_holds_now(
    s3: Any, tmp_path: Path
) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    growing = line(1) + line(2) + line(3)[:20]  # GIVEN a part that ends inside a line
    source.append("i-1", DAYS[0], "audit.log.0", growing)
    source.append("i-1", DAYS[0], "audit.log.1", line(4) * 3)
    source.append("i-1", DAYS[1], "audit.log.2", line(5))
    first = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    first.load()
    assert first.cache == cache and rows(first) == source.expected()
    first.close()
    # WHEN the cut line is continued in a new part, a file is deleted and another appears
    source.append("i-1", DAYS[0], "audit.log.0", line(3)[20:] + line(6, "it\\'s, quoted"))
    source.delete("i-1", DAYS[0], "audit.log.1")
    source.append("i-1", DAYS[1], "audit.log.3", line(7))
    reads = Reads(s3)
    second = DuckDBEngine(reads, BUCKET, PREFIX, cache=cache)
    second.load()
    # THEN the answer is S3's now: the cut line once and whole, the deleted file gone
    assert rows(second) == source.expected()
    assert sum(1 for _, text in rows(second) if text == line(3).decode().rstrip("\n")) == 1
    # AND only the files that changed were read (both parts of the grown one, the new one)
    assert sorted(k.rsplit("/", 1)[-1] for k in reads.keys) == [
        "audit.log.0.part-00001.gz",
        "audit.log.0.part-00002.gz",
        "audit.log.3.part-00001.gz",
    ]
    second.close()
    # AND a third engine with nothing changed reads nothing
    idle = Reads(s3)
    third = DuckDBEngine(idle, BUCKET, PREFIX, cache=cache)
    third.load()
    assert rows(third) == source.expected() and idle.keys == []


def test_a_part_replaced_under_the_same_key_is_read_again(s3: Any, tmp_path: Path) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    source.append("i-1", DAYS[0], "audit.log.0", line(1) + line(2))
    DuckDBEngine(s3, BUCKET, PREFIX, cache=cache).load()
    source.replace_first_part("i-1", DAYS[0], "audit.log.0", line(1, "DROP TABLE evidence"))
    engine = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    engine.load()
    assert rows(engine) == source.expected()


def test_queries_see_only_what_this_engine_loaded_not_the_whole_cache(s3: Any, tmp_path: Path) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    source.append("i-1", DAYS[0], "audit.log.0", line(1))
    source.append("i-2", DAYS[0], "audit.log.0", line(2))
    DuckDBEngine(s3, BUCKET, PREFIX, cache=cache).load()  # both instances in the cache
    engine = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    engine.load(instance="i-2")
    assert rows(engine) == source.expected({"i-2"})
    assert engine.sql_loaded("SELECT DISTINCT instance FROM audit_events").instance.tolist() == ["i-2"]


def test_a_load_stopped_half_way_leaves_nothing_a_later_load_doubles(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    for n in range(4):  # files of two parts each, the first cut mid-line
        data = b"".join(line(n * 10 + i) for i in range(6))
        source.append("i-1", DAYS[0], f"audit.log.{n}", data[:150])
        source.append("i-1", DAYS[0], f"audit.log.{n}", data[150:])
    monkeypatch.setattr(engine_module, "BATCH_CHARS", 1)  # GIVEN every part its own committed batch
    for stop in (1, 2, 3, 5, 7):  # WHEN a load stops inside a file or between files (8 parts in all)
        cache = tmp_path / f"cache-{stop}.duckdb"
        with pytest.raises(QueryError, match="cannot reach"):
            DuckDBEngine(Reads(s3, fail_after=stop), BUCKET, PREFIX, cache=cache).load()
        # THEN the next load answers exactly what S3 holds, reading only the files not recorded whole
        reads = Reads(s3)
        engine = DuckDBEngine(reads, BUCKET, PREFIX, cache=cache)
        engine.load()
        assert rows(engine) == source.expected()
        assert 0 < len(reads.keys) <= 8
        engine.close()


def test_a_cache_another_process_holds_is_skipped_and_the_answer_is_still_whole(
    s3: Any, tmp_path: Path
) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    source.append("i-1", DAYS[0], "audit.log.0", line(1) * 2)
    holder = subprocess.Popen(  # GIVEN another process (a notebook's kernel) has the cache open
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            held = duckdb.connect({str(cache)!r})
            held.execute("CREATE TABLE IF NOT EXISTS t (x INT)")
            print("open", flush=True)
            time.sleep(120)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        engine = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
        engine.load()
        assert engine.cache is None  # in memory instead, said in the log
        assert rows(engine) == source.expected()
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_cache_written_by_other_parsing_is_rebuilt(s3: Any, tmp_path: Path) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    source.append("i-1", DAYS[0], "audit.log.0", line(1))
    first = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    first.load()
    first.connection.execute("UPDATE archive.events SET line = 'from an older labkit'")
    first.connection.execute("UPDATE archive.meta SET value = 'older' WHERE name = 'version'")
    first.close()
    engine = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    engine.load()
    assert rows(engine) == source.expected()


# --- every history ----------------------------------------------------------------------------------------
lines_strategy = st.lists(
    st.one_of(
        st.integers(0, 10**6).map(line),
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"") + b"\n"),
        st.sampled_from([b"\n", b"x\r\n", b"caf\xc3\n", b"no newline yet"]),
    ),
    min_size=1,
    max_size=4,
).map(b"".join)

operation = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 3), lines_strategy),
    st.tuples(st.just("delete"), st.integers(0, 3), st.none()),
    st.tuples(st.just("replace"), st.integers(0, 3), lines_strategy),
    st.tuples(st.just("load"), st.integers(0, 6), st.booleans()),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(operation, min_size=1, max_size=12))
def test_after_any_history_a_load_answers_what_s3_holds(
    s3: Any, tmp_path_factory: pytest.TempPathFactory, history: list[Any]
) -> None:
    empty_bucket(s3, BUCKET)
    source, cache = Source(s3), tmp_path_factory.mktemp("cache") / "cache.duckdb"
    names = [("i-1", DAYS[0], "a"), ("i-1", DAYS[0], "b"), ("i-2", DAYS[1], "a"), ("i-1", DAYS[1], "c")]
    original = engine_module.BATCH_CHARS
    engine_module.BATCH_CHARS = 40  # batches of a few lines: stops land between committed batches
    try:
        for action, n, arg in [*history, ("load", 0, False)]:
            name = names[n % len(names)]
            if action == "append":
                source.append(*name, arg)
            elif action == "delete" and name in source.files:
                source.delete(*name)
            elif action == "replace" and name in source.files:
                source.replace_first_part(*name, arg)
            elif action == "load":
                stop = n if arg else None
                engine = DuckDBEngine(Reads(s3, fail_after=stop), BUCKET, PREFIX, cache=cache)
                try:
                    engine.load()
                except QueryError:
                    assert stop is not None
                    continue
                finally:
                    engine.close()
                check = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
                check.load()
                assert rows(check) == source.expected()
                check.close()
    finally:
        engine_module.BATCH_CHARS = original


def test_a_part_replaced_between_listing_and_reading_is_not_cached_as_listed(s3: Any, tmp_path: Path) -> None:
    source, cache = Source(s3), tmp_path / "cache.duckdb"
    source.append("i-1", DAYS[0], "audit.log.0", line(1) + line(2))

    class ReplacedOnRead(Reads):
        def get_object(self, **kwargs: Any) -> Any:
            if not self.keys:  # WHEN the part is rewritten after the listing, before its read
                source.replace_first_part("i-1", DAYS[0], "audit.log.0", line(3, "DROP TABLE evidence"))
            return super().get_object(**kwargs)

    with pytest.raises(QueryError, match=r"changed .* while it was read"):
        DuckDBEngine(ReplacedOnRead(s3), BUCKET, PREFIX, cache=cache).load()
    # THEN nothing of it was kept under the old listing: the next load reads what S3 holds now
    engine = DuckDBEngine(s3, BUCKET, PREFIX, cache=cache)
    engine.load()
    assert rows(engine) == source.expected()
