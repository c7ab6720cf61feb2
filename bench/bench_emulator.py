"""Emulator throughput: DownloadDBLogFilePortion paging vs DownloadCompleteDBLogFile on the same file.

Prints figures only (never asserts times). Usage: .venv/bin/python bench/bench_emulator.py [--mb 64]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import boto3
from emulated import add_instance

from labkit.backup.rdslogs import download_complete_log_file, iter_portions
from labkit.local.emulator import EmulatorServer


def make_file(path: Path, megabytes: int) -> bytes:
    line = (
        "20261126 15:29:21,vm,sbtest,127.0.0.1,13,{i},QUERY,sbtest,'SELECT c FROM sbtest1 WHERE id={i}',0\n"
    )
    chunks, size, i = [], 0, 0
    while size < megabytes * 1024 * 1024:
        block = "".join(line.format(i=n) for n in range(i, i + 10_000)).encode()
        chunks.append(block)
        size += len(block)
        i += 10_000
    data = b"".join(chunks)
    path.write_bytes(data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64, help="file size in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "audit"
        directory.mkdir()
        data = make_file(directory / "server_audit.log", args.mb)
        digest = hashlib.sha256(data).hexdigest()
        server = EmulatorServer(0)
        server.start()
        try:
            session = boto3.session.Session(
                aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1"
            )
            rds = session.client("rds", endpoint_url=server.url)
            add_instance(server, rds, "bench-1", directory, "aurora")
            name = rds.describe_db_log_files(DBInstanceIdentifier="bench-1")["DescribeDBLogFiles"][0][
                "LogFileName"
            ]
            results: dict[str, list[float]] = {"portion paging": [], "complete download": []}
            calls = 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                got = hashlib.sha256()
                calls = 0
                for page in iter_portions(rds, "bench-1", name):
                    got.update(page.data)
                    calls += 1
                results["portion paging"].append(time.perf_counter() - start)
                assert got.hexdigest() == digest
                start = time.perf_counter()
                got = hashlib.sha256()
                for chunk in download_complete_log_file(rds, session.get_credentials(), "bench-1", name):
                    got.update(chunk)
                results["complete download"].append(time.perf_counter() - start)
                assert got.hexdigest() == digest
        finally:
            server.stop()
    mb = len(data) / 1e6
    print(f"file: {mb:.1f} MB, {args.repeat} runs each, best run shown; portion calls per run: {calls}")
    best = {k: min(v) for k, v in results.items()}
    for method, seconds in best.items():
        print(f"  {method:18s} {mb / seconds:8.1f} MB/s   ({seconds:.2f} s)")
    print(f"  complete / paging speed ratio: {best['portion paging'] / best['complete download']:.1f}x")


if __name__ == "__main__":
    main()
