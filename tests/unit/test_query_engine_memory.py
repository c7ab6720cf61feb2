"""The local engine's memory is bounded: the loaded archive past ``memory_mb`` goes to the engine's own
spill directory, the answers stay whole, and the directory goes away with the engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.query import DuckDBEngine
from labkit.query.archive import Partition, PartText

PARTITION = Partition("c", "i", "2026-12-01", "p/cluster=c/instance=i/date=2026-12-01/")


def _sql(n: int) -> str:
    return f"INSERT INTO sbtest{n % 16} (k, c) VALUES ({n}, '{n:0>110}')"


def _line(n: int) -> str:
    escaped = _sql(n).replace("'", "\\'")
    return (
        f"{1_764_547_200_000_000 + n},aurora-1,app,10.0.0.{n % 250},{n // 30},{n},QUERY,sbtest,'{escaped}',0"
    )


@pytest.mark.slow  # ~110 MB through DuckDB
def test_an_archive_bigger_than_the_memory_limit_is_answered_whole_and_spilled() -> None:
    engine = DuckDBEngine(None, "b", "p", memory_mb=64)
    spill = Path(engine.spill_dir)
    lines, texts = 0, []
    longest = max(len(_sql(n)) for n in range(200_000))
    for part in range(40):  # ~ 110 MB of lines, 17 x the memory limit's share for tables
        block = [_line(part * 5000 + i) for i in range(5000)]
        texts.append(PartText(PARTITION, f"s3://b/k.part-{part:05d}.gz", "\n".join(block)))
        lines += len(block)
        if len(texts) == 4:
            engine.add_texts(texts)
            texts = []
    engine.mark_loaded([PARTITION])
    assert any(spill.iterdir()), "nothing spilled: the archive stayed in memory"
    answer = engine.sql_loaded(
        "SELECT count(*) AS n, count(DISTINCT source_key) AS parts, count(*) FILTER (WHERE category = 'DML')"
        " AS dml, max(length(object_sql)) AS longest FROM audit_events"
    )
    assert answer.to_dict("records") == [{"n": lines, "parts": 40, "dml": lines, "longest": longest}]
    used = engine.sql_loaded("SELECT sum(memory_usage_bytes) AS b FROM duckdb_memory()").b[0]
    assert used <= 64 * 1024 * 1024
    engine.close()
    assert not spill.exists()


def test_an_engine_dropped_without_close_removes_its_spill_directory() -> None:
    engine = DuckDBEngine(None, "b", "p")
    spill = engine.spill_dir
    engine.connection.close()
    del engine
    assert not os.path.exists(spill)
