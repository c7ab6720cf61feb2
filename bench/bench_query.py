"""Searching a big archive: today's pandas loader vs the DuckDB engine, on a synthetic backup in the emulator.

1. Generates a backup of realistic Aurora audit lines (several instances x many dates, four concurrent files
   per instance-day as Aurora writes them; connections, sysbench-like SQL with commas and escaped quotes, TABLE
   events, failed logins, DDL and DCL) and writes it into the emulator's S3 with the downloader's own part
   writer (``GzipPartWriter`` + ``PartKey``, the same object metadata), so keys, gzip and metadata are what a
   real backup holds. Parts end at line ends (RDS lists a file between whole lines) and hold at most
   ``--part-mb`` of source each, so a file has several parts, as a growing file copied in increments has.
2. Answers the same three questions each way, each engine in a fresh child process (its peak RSS is that
   process's VmHWM, as bench_pipeline measures the downloader; the parent also stops a child whose RSS passes
   ``--max-rss-gb``, since the machine is shared):
   - q1 failed logins per user and client host, over the whole archive;
   - q2 DDL/DCL statements by user on one instance over the last 7 days (partition pruning applies);
   - q3 events per operation per day, over the whole archive.
   pandas: ``labkit.dashboard.audit.read_audit_events`` (notebook 80's loader before the engine) over every
   part, then the dashboard's frames; it loads once and answers all three. It is also run on the newest
   ``--pandas-sample-gb`` only, to completion, for a linear extrapolation when the whole archive does not fit.
   DuckDB: ``labkit.query``: q2 alone on a fresh engine (one search: only its partitions are read), then on
   another engine every partition loaded once and the three saved queries asked of it.
3. Prints times, peak RSS, the speed ratio, and the gzip bytes q2 reads with and without partition pruning.
   The generator's own counts are the truth both engines' answers are checked against.

Prints figures only; never asserts times. Usage:
  .venv/bin/python bench/bench_query.py [--size-gb 2.0] [--instances 4] [--days 30] [--skip-pandas]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from labkit import aws
from labkit.backup.layout import PartKey
from labkit.backup.s3parts import GzipPartWriter
from labkit.config import LabConfig, load_config
from labkit.local.emulator import EmulatorServer

FILES_PER_DAY = 4  # Aurora spreads writes over about four files at a time
LAST_DAY = date(2026, 11, 30)
PRUNED_DAYS = 7
USERS = ("app", "app", "app", "app", "batch", "reporting", "etl", "admin", "rdsadmin")
CLIENTS = tuple(f"10.0.{n // 40}.{10 + n % 40}" for n in range(60))
TABLES = tuple(f"sbtest{n}" for n in range(1, 17))
DDL = (
    "CREATE TABLE IF NOT EXISTS {t}_archive (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))",
    "ALTER TABLE {t} ADD INDEX k_{n} (k, id)",
    "DROP TABLE IF EXISTS {t}_old",
    "TRUNCATE TABLE {t}_staging",
)
DCL = (
    "GRANT SELECT, INSERT ON sbtest.{t} TO \\'reporting\\'@\\'%\\'",
    "REVOKE INSERT ON sbtest.{t} FROM \\'etl\\'@\\'10.0.%\\'",
    "CREATE USER \\'tmp{n}\\'@\\'%\\' IDENTIFIED BY <secret>",
)


@dataclass
class Truth:
    """What the generator wrote, counted as it wrote it: the answers both engines must give."""

    lines: int = 0
    source_bytes: int = 0
    compressed_bytes: int = 0
    parts: int = 0
    failed_logins: Counter[tuple[str, str]] = field(default_factory=Counter)
    ddl_dcl_pruned: Counter[str] = field(default_factory=Counter)  # per user, on the pruned instance/days
    per_operation: Counter[str] = field(default_factory=Counter)


class DayWriter:
    """Audit lines of one instance-day: sessions of sysbench-like traffic plus the rare events audits seek."""

    def __init__(self, rng: random.Random, server: str, day: date, truth: Truth, pruned: bool) -> None:
        self.rng, self.server, self.truth, self.pruned = rng, server, truth, pruned
        self.start_us = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1_000_000)
        self.query_id = rng.randrange(10**6, 10**8)
        self.connection = rng.randrange(1000, 10**6)

    def lines(self, target_bytes: int) -> bytes:
        """About ``target_bytes`` of lines, spread over the day in (nearly) time order."""
        out: list[str] = []
        size, step = 0, 86_400_000_000 // max(1, target_bytes // 140)
        now = self.start_us
        while size < target_bytes:
            session = self._session(min(now, self.start_us + 86_399_990_000))  # ends before midnight
            now += step * len(session)
            out.extend(session)
            size += sum(map(len, session))
        return "".join(out).encode()

    def _session(self, now: int) -> list[str]:
        rng, truth = self.rng, self.truth
        user, client = rng.choice(USERS), rng.choice(CLIENTS)
        self.connection += 1
        conn = self.connection
        if rng.random() < 0.01:  # a failed login: one line, error 1045
            truth.failed_logins[(user, client)] += 1
            return [self._line(now, user, client, conn, 0, "FAILED_CONNECT", "", "", "1045")]
        lines = [self._line(now, user, client, conn, 0, "CONNECT", "sbtest", "", "0")]
        for i in range(rng.randrange(4, 40)):
            lines.extend(self._statement(now + i * 97, user, client, conn))
        lines.append(self._line(now + 4001, user, client, conn, 0, "DISCONNECT", "sbtest", "", "0"))
        return lines

    def _statement(self, now: int, user: str, client: str, conn: int) -> list[str]:
        rng = self.rng
        self.query_id += 1
        qid, table, n = self.query_id, rng.choice(TABLES), rng.randrange(1, 10**6)
        roll = rng.random()
        if roll < 0.002:
            sql = rng.choice(DDL + DCL).format(t=table, n=n)
            if self.pruned:
                self.truth.ddl_dcl_pruned[user] += 1
            return [self._line(now, user, client, conn, qid, "QUERY", "sbtest", f"'{sql}'", "0")]
        if roll < 0.55:
            sql = f"SELECT c FROM {table} WHERE id={n}"
            op = "READ"
        elif roll < 0.70:
            sql = f"SELECT DISTINCT c FROM {table} WHERE id BETWEEN {n} AND {n + 99} ORDER BY c"
            op = "READ"
        elif roll < 0.82:
            sql = f"UPDATE {table} SET k=k+1 WHERE id={n}"
            op = "WRITE"
        elif roll < 0.92:
            pad = f"{n:011d}-{n * 7 % 10**11:011d}-{n * 13 % 10**11:011d}"
            sql = f"INSERT INTO {table} (id, k, c, pad) VALUES ({n}, {n % 5000}, \\'{pad},x\\', \\'O\\\\\\'Brien\\')"
            op = "WRITE"
        else:
            sql = "SELECT @@aurora_version" if user == "rdsadmin" else "COMMIT"
            op = ""
        retcode = "1146" if roll > 0.9995 else "0"
        lines = [self._line(now, user, client, conn, qid, "QUERY", "sbtest", f"'{sql}'", retcode)]
        if op:
            lines.append(self._line(now + 3, user, client, conn, qid, op, "sbtest", table, ""))
        return lines

    def _line(
        self, now: int, user: str, client: str, conn: int, qid: int, op: str, db: str, obj: str, ret: str
    ) -> str:
        self.truth.lines += 1
        self.truth.per_operation[op] += 1
        return f"{now},{self.server},{user},{client},{conn},{qid},{op},{db},{obj},{ret}\n"


def generate(config: LabConfig, size_gb: float, instances: int, days: int, part_mb: float) -> Truth:
    """The synthetic backup, written part by part with the downloader's writer; returns what was written."""
    s3 = aws.client("s3", config)
    bucket, prefix = config.names.bucket, config.log_prefix
    s3.create_bucket(Bucket=bucket)
    truth = Truth()
    rng = random.Random(20261204)
    file_bytes = int(size_gb * 1e9 / (instances * days * FILES_PER_DAY)) + 1
    part_bytes = int(part_mb * 1024 * 1024)
    for d in range(days):
        day = LAST_DAY - timedelta(days=d)
        for i in range(instances):
            instance = f"{config.project[:40]}-{i + 1}"
            pruned = i == 0 and d < PRUNED_DAYS
            for n in range(FILES_PER_DAY):
                writer = DayWriter(rng, instance, day, truth, pruned)
                name = f"audit/audit.log.{n}.{day.isoformat()}-00-00.0"
                _write_file(
                    s3,
                    bucket,
                    PartKey(prefix, config.cluster_id, instance, day.isoformat(), name),
                    writer.lines(file_bytes),
                    part_bytes,
                    truth,
                )
        if (d + 1) % 5 == 0 or d + 1 == days:
            print(
                f"  generated {truth.source_bytes / 1e9:5.2f} GB in {truth.parts} parts ({d + 1}/{days} days)"
            )
    return truth


def _write_file(s3: Any, bucket: str, key: PartKey, data: bytes, part_bytes: int, truth: Truth) -> None:
    """One audit file as numbered parts that end at line ends, each with the downloader's metadata."""
    start, number = 0, 1
    last_written = int(time.time() * 1000)
    while start < len(data):
        end = (
            data.rfind(b"\n", start, start + part_bytes) + 1 if start + part_bytes < len(data) else len(data)
        )
        end = end if end > start else len(data)
        writer = GzipPartWriter(s3, bucket, key.key(number), start)
        writer.write(data[start:end])
        written = writer.close(
            {
                "source-file": key.file_id,
                "source-last-written": str(last_written),
                "instance": key.instance_id,
            }
        )
        truth.parts += 1
        truth.compressed_bytes += written.compressed_bytes
        start, number = end, number + 1
    truth.source_bytes += len(data)


# -- the questions, answered by today's pandas loader ------------------------------------------------------
def pandas_answers(config: LabConfig, max_bytes: int) -> dict[str, Any]:
    """Notebook 80's way: the parts read and parsed into one frame (newest files first, at most
    ``max_bytes`` of text), then the dashboard's frames."""
    from labkit.dashboard.audit import ddl_dcl_events, failed_logins, read_audit_events

    timings: dict[str, float] = {}
    started = time.perf_counter()
    s3 = aws.client("s3", config)
    events = read_audit_events(s3, config.names.bucket, f"{config.log_prefix}/", max_bytes)
    timings["load"] = time.perf_counter() - started

    started = time.perf_counter()
    failed = failed_logins(events)
    q1 = {f"{r.user}|{r.host}": int(r.attempts) for r in failed.itertuples()}
    timings["failed_logins"] = time.perf_counter() - started

    started = time.perf_counter()
    since = pandas_since()
    recent = events[(events["instance_id"] == pruned_instance(config)) & (events["timestamp"] >= since)]
    q2 = {str(k): int(v) for k, v in ddl_dcl_events(recent).groupby("user").size().items()}
    timings["ddl_dcl_by_user"] = time.perf_counter() - started

    started = time.perf_counter()
    per_day = events.groupby([events["timestamp"].dt.floor("D"), "operation"]).size()
    q3 = {str(op): int(n) for op, n in per_day.groupby(level="operation").sum().items()}
    timings["events_per_operation_per_day"] = time.perf_counter() - started
    return {"timings": timings, "rows": len(events), "answers": {"q1": q1, "q2": q2, "q3": q3}}


def pruned_instance(config: LabConfig) -> str:
    return f"{config.project[:40]}-1"


def pandas_since() -> Any:
    import pandas as pd

    return pd.Timestamp(LAST_DAY - timedelta(days=PRUNED_DAYS - 1), tz="UTC")


def truth_answers(truth: Truth) -> dict[str, Any]:
    return {
        "q1": {f"{u}|{h}": n for (u, h), n in truth.failed_logins.items()},
        "q2": dict(truth.ddl_dcl_pruned),
        "q3": dict(truth.per_operation),
    }


# -- children: one fresh process per engine, its peak RSS read from /proc ---------------------------------
def peak_rss_bytes() -> int:
    """VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child_main(engine: str, endpoint: str, state_dir: str, max_bytes: int, days: int) -> None:
    config = load_config(env={}, endpoint_url=endpoint, state_dir=state_dir)
    baseline = peak_rss_bytes()
    result = pandas_answers(config, max_bytes) if engine == "pandas" else duckdb_answers(config, days)
    result["peak_rss"] = peak_rss_bytes()
    result["baseline_rss"] = baseline
    print("RESULT " + json.dumps(result))


def run_child(
    engine: str, config: LabConfig, days: int, max_rss_gb: float, max_bytes: int = 2**62
) -> dict[str, Any]:
    """Run one engine in a fresh process; stop it if its RSS passes ``max_rss_gb`` (a shared machine)."""
    command = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--endpoint",
        config.endpoint_url,
        "--state-dir",
        str(config.state_dir),
        "--max-bytes",
        str(max_bytes),
        "--days",
        str(days),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak, killed = 0, False
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(process.stdout or []), daemon=True)
    reader.start()
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        if rss > max_rss_gb * 1e9:
            process.kill()
            killed = True
        time.sleep(0.2)
    process.wait()
    reader.join()
    wall = time.perf_counter() - started
    for line in out:
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            result["wall"] = wall
            return result
    partial: dict[str, Any] = {}
    for line in out:
        if line.startswith("PARTIAL "):
            partial.update(json.loads(line[len("PARTIAL ") :]))
    return {
        **partial,
        "failed": "killed at the RSS cap" if killed else f"exit {process.returncode}",
        "peak_rss": peak,
        "wall": wall,
    }


# -- the same questions through labkit.query (DuckDB locally) ---------------------------------------------
class ReadCounter:
    """Compressed bytes the engine's S3 client fetched (GetObject), via botocore's event hooks."""

    def __init__(self, s3: Any) -> None:
        self.bytes = 0
        s3.meta.events.register("after-call.s3.GetObject", self._count)

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        self.bytes += int(parsed.get("ContentLength", 0))


def duckdb_answers(config: LabConfig, days: int) -> dict[str, Any]:
    """The pruned question on a fresh in-memory engine (what one search costs without the cache); then an
    engine with the cache, empty (cold): every partition loaded and the three questions asked; then another
    engine on the same cache, as a dashboard refresh with nothing new (warm)."""
    from labkit.query import DuckDBEngine, connect

    first, last = (LAST_DAY - timedelta(days=days - 1)).isoformat(), LAST_DAY.isoformat()
    since = (LAST_DAY - timedelta(days=PRUNED_DAYS - 1)).isoformat()
    ddl_params = {"instance": pruned_instance(config), "since": since, "until": last}

    engine = DuckDBEngine(
        aws.client("s3", config), config.names.bucket, config.log_prefix, memory_mb=config.query_memory_mb
    )
    counter = ReadCounter(engine.s3)
    started = time.perf_counter()
    pruned_rows = engine.run("ddl_dcl_by_user", **ddl_params)
    pruned = {"seconds": time.perf_counter() - started, "bytes": counter.bytes, "rows": len(pruned_rows)}
    pruned["peak_rss"] = peak_rss_bytes()
    engine.close()
    print("PARTIAL " + json.dumps({"pruned": pruned}), flush=True)  # kept if the rest is stopped

    def three_questions() -> tuple[dict[str, float], dict[str, dict[str, int]], int, int, int]:
        engine = connect(config)
        counter = ReadCounter(engine.s3)  # type: ignore[attr-defined]
        answers: dict[str, dict[str, int]] = {}
        timings: dict[str, float] = {}
        started = time.perf_counter()
        engine.load()  # type: ignore[attr-defined]  # DuckDBEngine: every partition
        timings["load"] = time.perf_counter() - started

        started = time.perf_counter()
        failed = engine.run("failed_logins", since=first, until=last)
        timings["failed_logins"] = time.perf_counter() - started
        answers["q1"] = {
            f"{u}|{h}": int(n) for (u, h), n in failed.groupby(["username", "client_host"]).size().items()
        }

        started = time.perf_counter()
        ddl = engine.run("ddl_dcl_by_user", **ddl_params)
        timings["ddl_dcl_by_user"] = time.perf_counter() - started
        answers["q2"] = {str(u): int(n) for u, n in ddl.groupby("username").size().items()}

        started = time.perf_counter()
        per_op = engine.run("events_per_operation", since=first, until=last, bucket="day")
        timings["events_per_operation_per_day"] = time.perf_counter() - started
        answers["q3"] = {str(op): int(n) for op, n in per_op.groupby("operation")["events"].sum().items()}
        engine.close()  # type: ignore[attr-defined]
        return timings, answers, int(per_op["events"].sum()), counter.bytes, len(ddl)

    timings, answers, rows, read, ddl_rows = three_questions()
    cold_rss = peak_rss_bytes()
    warm_timings, warm_answers, _, warm_read, _ = three_questions()
    return {
        "timings": timings,
        "rows": rows,
        "answers": answers,
        "cold_rss": cold_rss,
        "warm": {"timings": warm_timings, "bytes": warm_read, "same": warm_answers == answers},
        "pruned": pruned,
        "unpruned": {
            "seconds": timings["load"] + timings["ddl_dcl_by_user"],
            "bytes": read,
            "same_rows": ddl_rows == pruned["rows"],
        },
    }


# -- the report --------------------------------------------------------------------------------------------
def report(truth: Truth, results: dict[str, dict[str, Any]], sample_gb: float) -> None:
    expected = truth_answers(truth)
    size_gb = truth.source_bytes / 1e9
    print(
        f"archive: {size_gb:.2f} GB of audit text, {truth.lines:,} lines, "
        f"{truth.compressed_bytes / 1e6:.0f} MB gzip in {truth.parts} parts"
    )
    for engine, result in results.items():
        label = f"pandas over the newest {sample_gb} GB" if engine == "sample" else f"{engine} over all"
        if "failed" in result:
            print(
                f"{label}: FAILED ({result['failed']}) after {result['wall']:.0f} s, "
                f"RSS {result['peak_rss'] / 1e9:.2f} GB when stopped"
            )
            continue
        t = result["timings"]
        print(
            f"{label}: {sum(t.values()):.2f} s ({', '.join(f'{k} {v:.2f} s' for k, v in t.items())}); "
            f"{result['rows']:,} rows; peak RSS {result['peak_rss'] / 1e6:,.0f} MB "
            f"(at start {result['baseline_rss'] / 1e6:,.0f} MB)"
        )
        if engine != "sample":
            for q in ("q1", "q2", "q3"):
                same = result["answers"][q] == expected[q]
                print(
                    f"    {q} {'equals the generator count' if same else 'DIFFERS'}"
                    + (
                        ""
                        if same
                        else f": got {_short(result['answers'][q])}, expected {_short(expected[q])}"
                    )
                )
    duck = results.get("duckdb", {})
    duck_s = sum(duck["timings"].values()) if "timings" in duck else None
    if "warm" in duck:
        warm = duck["warm"]
        warm_s = sum(warm["timings"].values())
        print(
            f"duckdb again on the same cache (a refresh, nothing new): {warm_s:.2f} s "
            f"({', '.join(f'{k} {v:.2f} s' for k, v in warm['timings'].items())}); "
            f"{warm['bytes'] / 1e6:.1f} MB read; answers {'the same' if warm['same'] else 'DIFFERENT'}"
        )
    pandas, sample = results.get("pandas", {}), results.get("sample", {})
    if duck_s and "timings" in pandas:
        print(
            f"ratio pandas / DuckDB, measured on {size_gb:.2f} GB: time {sum(pandas['timings'].values()) / duck_s:.1f}, "
            f"peak RSS {pandas['peak_rss'] / duck['peak_rss']:.1f} (above 1: DuckDB is faster, smaller)"
        )
    elif duck_s and pandas:
        print(
            f"ratio pandas / DuckDB on {size_gb:.2f} GB: pandas had no answer after {pandas['wall']:.0f} s "
            f"(stopped at {pandas['peak_rss'] / 1e9:.1f} GB RSS): time above {pandas['wall'] / duck_s:.1f}, "
            f"peak RSS above {pandas['peak_rss'] / duck['peak_rss']:.1f}"
        )
    if "timings" in sample:
        scale = size_gb / sample_gb
        pandas_s = sum(sample["timings"].values()) * scale
        print(
            f"  pandas extrapolated from {sample_gb} GB to {size_gb:.2f} GB (linear): {pandas_s:.0f} s, "
            f"{(sample['peak_rss'] - sample['baseline_rss']) * scale / 1e9:.1f} GB RSS"
            + (f" -> time ratio pandas / DuckDB {pandas_s / duck_s:.1f}" if duck_s else "")
        )
    if "pruned" in duck:
        pruned = duck["pruned"]
        unpruned = duck.get("unpruned", {"bytes": truth.compressed_bytes})
        print(
            f"  ddl_dcl_by_user (one instance, {PRUNED_DAYS} days) on a fresh engine: with partition pruning "
            f"{pruned['bytes'] / 1e6:,.1f} MB gzip read, {pruned['seconds']:.2f} s, peak RSS "
            f"{pruned['peak_rss'] / 1e6:,.0f} MB; without (every partition) {unpruned['bytes'] / 1e6:,.1f} MB"
            + (f", {unpruned['seconds']:.2f} s" if "seconds" in unpruned else " (the whole archive)")
            + f": {unpruned['bytes'] / max(pruned['bytes'], 1):.0f}x the bytes"
            + ("" if unpruned.get("same_rows", True) else " (DIFFERENT ROWS)")
        )


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) < 300 else text[:300] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gb", type=float, default=2.0, help="audit text to generate (default 2.0)")
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--part-mb", type=float, default=1.5, help="MB of source text per part, at most")
    parser.add_argument("--max-rss-gb", type=float, default=10.0, help="stop an engine's process past this")
    parser.add_argument(
        "--pandas-sample-gb",
        type=float,
        default=0.25,
        help="also time pandas on the newest GB of the archive, to completion (0: skip)",
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--child", choices=("pandas", "duckdb"), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--max-bytes", type=int, default=2**62, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.endpoint, args.state_dir, args.max_bytes, args.days)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmulatorServer(0)
        server.start()
        try:
            config = load_config(env={}, endpoint_url=server.url, state_dir=tmp)
            started = time.perf_counter()
            truth = generate(config, args.size_gb, args.instances, args.days, args.part_mb)
            print(f"  written in {time.perf_counter() - started:.0f} s")
            results: dict[str, dict[str, Any]] = {}
            for engine in ("duckdb", "pandas"):
                if not getattr(args, f"skip_{engine}"):
                    print(f"  running {engine} over the whole archive ...", flush=True)
                    results[engine] = run_child(engine, config, args.days, args.max_rss_gb)
            if not args.skip_pandas and 0 < args.pandas_sample_gb < truth.source_bytes / 1e9:
                print(f"  running pandas over the newest {args.pandas_sample_gb} GB ...", flush=True)
                sample = int(args.pandas_sample_gb * 1e9)
                results["sample"] = run_child("pandas", config, args.days, args.max_rss_gb, sample)
        finally:
            server.stop()
    report(truth, results, args.pandas_sample_gb)


if __name__ == "__main__":
    main()
