"""The emulator's RDS profiles side by side: DownloadDBLogFilePortion MB/s, the complete download's MB/s, and
RDS requests/s (answered and throttled), under the fast (default) and aws profiles in the same run; the aws
figures also as a ratio of the fast ones.

Prints figures only, never asserts times. The aws profile's figures follow from its settings (the bucket, the
call latency, the page and complete rates: see README "The aws RDS profile"), not from AWS: this is the
emulator on this machine. Usage:
    .venv/bin/python bench/bench_emulator_profile.py [--mb 4] [--seconds 10] [--threads 16] [--complete-mb-s 2]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from emulated import add_instance

from labkit.backup.rdslogs import download_complete_log_file, iter_portions
from labkit.config import load_config
from labkit.local.emulator import EmulatorServer
from labkit.local.emulator.rds_budget import RdsProfile

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=32)
LINE = "20261126 15:29:21,vm,sbtest,127.0.0.1,13,{i},QUERY,sbtest,'SELECT c FROM sbtest1 WHERE id={i}',0\n"


@dataclass
class Figures:
    portion_mb_s: float
    portion_calls: int
    complete_mb_s: float
    answered_per_s: float
    throttled_per_s: float
    # requests sent after the first throttled one that were answered, per second: the rate once the burst is
    # spent (0: nothing throttled)
    sustained_per_s: float


def make_file(path: Path, megabytes: float) -> bytes:
    chunks, size, i = [], 0, 0
    while size < megabytes * 1_000_000:
        block = "".join(LINE.format(i=n) for n in range(i, i + 1000)).encode()
        chunks.append(block)
        size += len(block)
        i += 1000
    data = b"".join(chunks)
    path.write_bytes(data)
    return data


def measure(profile: RdsProfile, directory: Path, data: bytes, seconds: float, threads: int) -> Figures:
    from moto.backends import get_backend

    server = EmulatorServer(0, profile=profile)
    server.start()
    try:
        session = boto3.session.Session(
            aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1"
        )
        rds = session.client("rds", endpoint_url=server.url, config=NO_RETRY)
        add_instance(server, rds, "bench-1", directory, "rds-mysql")
        name = "audit/server_audit.log"
        digest = hashlib.sha256(data).hexdigest()
        # one file paged from Marker 0, then downloaded whole: each from a full bucket
        start, got, calls = time.perf_counter(), hashlib.sha256(), 0
        for page in iter_portions(rds, "bench-1", name):
            got.update(page.data)
            calls += 1
        paging_s = time.perf_counter() - start
        assert got.hexdigest() == digest
        start, got = time.perf_counter(), hashlib.sha256()
        for chunk in download_complete_log_file(rds, session.get_credentials(), "bench-1", name):
            got.update(chunk)
        complete_s = time.perf_counter() - start
        assert got.hexdigest() == digest
        answered, throttled, sustained = request_rate(session, server.url, seconds, threads)
    finally:
        server.stop()
        get_backend("rds").reset()
    mb = len(data) / 1e6
    return Figures(mb / paging_s, calls, mb / complete_s, answered, throttled, sustained)


def request_rate(
    session: boto3.session.Session, url: str, seconds: float, threads: int
) -> tuple[float, float, float]:
    """``threads`` clients of one account and Region call DescribeDBLogFiles as fast as answers come back."""
    lock = threading.Lock()
    answered: list[float] = []
    throttled: list[float] = []
    start = time.perf_counter()

    def worker() -> None:
        client = session.client("rds", endpoint_url=url, config=NO_RETRY)
        while (sent := time.perf_counter()) - start < seconds:
            try:
                client.describe_db_log_files(DBInstanceIdentifier="bench-1")
                kind = answered
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "Throttling":
                    raise
                kind = throttled
                time.sleep(0.01)  # a client that got Throttling does not spin
            with lock:
                kind.append(sent)  # when it was sent: the bucket is spent on arrival, before the latency

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    sustained = 0.0
    if throttled:
        first = min(throttled)
        after = [t for t in answered if t > first]
        sustained = len(after) / max(1e-9, elapsed - (first - start))
    return len(answered) / elapsed, len(throttled) / elapsed, sustained


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=4.0, help="file size in MB (10^6 bytes)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the requests/s run")
    parser.add_argument("--threads", type=int, default=16, help="concurrent clients in the requests/s run")
    parser.add_argument(
        "--complete-mb-s",
        type=float,
        action="append",
        help="complete download rate(s) to sweep under aws (no public figure; default: the config's)",
    )
    args = parser.parse_args()
    aws = RdsProfile.from_config(load_config(rds_profile="aws"))
    rates = args.complete_mb_s or [aws.complete_mb_s]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "audit"
        directory.mkdir()
        data = make_file(directory / "server_audit.log", args.mb)
        runs = {"fast": measure(RdsProfile(), directory, data, args.seconds, args.threads)}
        for rate in rates:
            runs[f"aws@{rate:g}"] = measure(
                replace(aws, complete_mb_s=rate), directory, data, args.seconds, args.threads
            )
    print(
        f"emulator on this machine; file {len(data) / 1e6:.1f} MB; requests/s: {args.threads} clients for "
        f"{args.seconds:g} s, DescribeDBLogFiles, no retries"
    )
    print(
        f"aws profile: burst {aws.burst}, refill {aws.refill_per_s:g}/s, call latency {aws.call_latency_ms:g} ms, "
        f"pages {aws.portion_mb_s:g} MB/s per file, complete download swept over {rates} MB/s"
    )
    fast = runs["fast"]
    header = f"{'profile':12s} {'portion MB/s':>13s} {'calls':>6s} {'complete MB/s':>14s} {'answered/s':>11s}"
    print(header + f" {'throttled/s':>12s} {'after burst/s':>14s}")
    for label, f in runs.items():
        print(
            f"{label:12s} {f.portion_mb_s:13.2f} {f.portion_calls:6d} {f.complete_mb_s:14.2f} "
            f"{f.answered_per_s:11.1f} {f.throttled_per_s:12.1f} {f.sustained_per_s:14.1f}"
        )
    for label, f in runs.items():
        if label != "fast":
            print(
                f"{label} / fast: portion {f.portion_mb_s / fast.portion_mb_s:.4f}x, complete "
                f"{f.complete_mb_s / fast.complete_mb_s:.4f}x, answered requests/s "
                f"{f.answered_per_s / fast.answered_per_s:.4f}x"
            )


if __name__ == "__main__":
    main()
