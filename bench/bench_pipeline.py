"""Pipeline figures in one run, against the in-process emulator (moto's server over HTTP on loopback).

- one downloader copying a ~100 MB sealed file vs a bare DownloadDBLogFilePortion loop on the same file
  (throughput ratio; target >= 0.8), and the same through the portion path
- RDS calls per MB; RDS bytes fetched per source byte for a growing file copied in increments (target <= 1.02)
- DynamoDB writes per idle scan (target 0)
- downloader peak memory on the 100 MB file: Python heap (tracemalloc) and a child process's peak RSS
  (target <= 150 MB)
- backup lag: time from an audit line written to it being in S3, for one detect + copy cycle
Prints figures only; never asserts times. Usage: .venv/bin/python bench/bench_pipeline.py [--mb 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import boto3
from emulated import add_instance

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.rdslogs import iter_portions
from labkit.backup.scanner import InstanceMessage
from labkit.backup.table import table_definition
from labkit.local.emulator import EmulatorServer

LINE = "20261126 15:29:21,vm,sbtest,127.0.0.1,13,{i},QUERY,sbtest,'SELECT c FROM sbtest1 WHERE id={i}',0\n"


def write_lines(path: Path, start: int, megabytes: float) -> int:
    written, i = 0, start
    with open(path, "ab") as handle:
        while written < megabytes * 1024 * 1024:
            block = "".join(LINE.format(i=n) for n in range(i, i + 10_000)).encode()
            handle.write(block)
            written += len(block)
            i += 10_000
    return i


class Bench:
    def __init__(self, url: str, tmp: Path) -> None:
        self.session = boto3.session.Session(
            aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1"
        )
        self.rds = self.session.client("rds", endpoint_url=url)
        self.s3 = self.session.client("s3", endpoint_url=url)
        self.s3.create_bucket(Bucket="bench-backups")
        ddb = self.session.client("dynamodb", endpoint_url=url)
        ddb.create_table(**table_definition("bench-files"))
        self.table = self.session.resource("dynamodb", endpoint_url=url).Table("bench-files")
        self.tmp = tmp
        self.seq = 0

    def instance(self, server: EmulatorServer, name: str) -> Path:
        directory = self.tmp / name
        directory.mkdir()
        add_instance(server, self.rds, name, directory, "aurora", cluster_id=f"{name}-c")
        return directory

    def detect(self, name: str) -> int:
        message = InstanceMessage(name, f"{name}-c", "aurora-mysql", "aurora")
        return detect(self.rds, self.table, message, seal_after_s=0.0, ttl_days=1).writes

    def copy(self, name: str) -> list:
        downloader = Downloader(
            self.rds,
            self.s3,
            self.table,
            self.session.get_credentials(),
            "bench-backups",
            "audit-logs",
            60_000,
        )
        outcomes = []
        for item in t.instance_items(self.table, name):
            self.seq += 1
            outcomes.append(downloader.copy(item["pk"], item["sk"], str(self.seq)))
        return outcomes


RSS_CHILD = """
import sys, boto3
from labkit.backup.downloader import Downloader

def peak_kb():  # VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

url, pk, sk = sys.argv[1:4]
session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
table = session.resource("dynamodb", endpoint_url=url).Table("bench-files")
downloader = Downloader(session.client("rds", endpoint_url=url), session.client("s3", endpoint_url=url), table,
                        session.get_credentials(), "bench-backups", "audit-logs", 60_000)
before = peak_kb()
outcome = downloader.copy(pk, sk, "rss-probe")
assert outcome.action == "copied", outcome
print(before, peak_kb())
"""


def downloader_rss(url: str, pk: str, sk: str) -> tuple[int, int]:
    """Peak RSS (KB) of a fresh process that copies one file: what a Lambda's memory setting must hold."""
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, url, pk, sk], capture_output=True, text=True, check=True
    )
    before, after = out.stdout.split()
    return int(before), int(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmulatorServer(0)
        server.start()
        try:
            bench = Bench(server.url, Path(tmp))
            # 1. a sealed ~100 MB file: bare paging loop vs the downloader (complete download + gzip + S3)
            big = bench.instance(server, "big-1")
            write_lines(big / "server_audit.log.1", 0, args.mb)
            write_lines(big / "server_audit.log", 0, 0.01)  # a newer active file, so .1 is sealed
            size = (big / "server_audit.log.1").stat().st_size
            bench.detect("big-1")
            name = next(i["log_file_name"] for i in t.instance_items(bench.table, "big-1") if i["sealed"])
            start = time.perf_counter()
            calls = sum(1 for _ in iter_portions(bench.rds, "big-1", name))
            bare_s = time.perf_counter() - start
            tracemalloc.start()
            start = time.perf_counter()
            outcomes = bench.copy("big-1")
            copy_s = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            sealed = next(o for o in outcomes if o.bytes_copied >= size)
            mb = size / 1e6
            print(f"sealed file: {mb:.1f} MB")
            print(
                f"  bare portion-paging loop   {mb / bare_s:7.1f} MB/s  ({calls} calls, {calls / mb:.2f} calls/MB)"
            )
            print(
                f"  downloader (complete+gzip+S3) {mb / copy_s:7.1f} MB/s  ({sealed.rds_calls} RDS call(s), {sealed.rds_calls / mb:.3f} calls/MB)"
            )
            print(f"  downloader / bare loop throughput ratio: {bare_s / copy_s:.2f} (target >= 0.8)")
            print(f"  downloader peak Python memory: {peak / 1e6:.1f} MB (tracemalloc; target <= 150 MB)")
            rss = bench.instance(server, "rss-1")
            write_lines(rss / "server_audit.log.1", 0, args.mb)
            write_lines(rss / "server_audit.log", 0, 0.01)
            bench.detect("rss-1")
            item = next(i for i in t.instance_items(bench.table, "rss-1") if i["sealed"])
            before, after = downloader_rss(server.url, item["pk"], item["sk"])
            print(
                f"  downloader process peak RSS: {after / 1024:.0f} MB "
                f"({before / 1024:.0f} MB after imports; a child process, as a Lambda; target <= 150 MB)"
            )
            # 2. a growing file copied in increments through the portion path
            grow = bench.instance(server, "grow-1")
            line_no = 0
            fetched = source = 0
            for _ in range(5):
                line_no = write_lines(grow / "server_audit.log", line_no, args.mb / 10)
                bench.detect("grow-1")
                for o in bench.copy("grow-1"):
                    fetched += o.rds_bytes_fetched
                    source += o.bytes_copied
            print(
                f"growing file: {source / 1e6:.1f} MB in 5 increments; RDS bytes fetched per source byte: {fetched / source:.4f} (target <= 1.02)"
            )
            # 3. idle scan
            print(
                f"DynamoDB writes per idle scan: {bench.detect('grow-1') + bench.detect('big-1')} (two instances; target 0)"
            )
            # 4. backup lag for one cycle: a line written -> detected -> in S3
            written_at = time.time()
            write_lines(grow / "server_audit.log", line_no, 0.05)
            bench.detect("grow-1")
            bench.copy("grow-1")
            print(
                f"backup lag of one detect+copy cycle: {(time.time() - written_at) * 1000:.0f} ms "
                "(plus the scan interval on a schedule: 1 min by default)"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
