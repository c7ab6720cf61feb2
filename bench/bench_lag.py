"""Backup lag on the real local lab: from an audit line written by MariaDB to that line being in S3.

Each sample writes a uniquely tagged statement on the writer, asks the lab's runtime for a scan (as the
EventBridge schedule would, without waiting for its interval) and polls S3 until a part holds the tag.
The lag printed therefore excludes the schedule's interval (1 min by default), which adds up to one
interval on top. Prints figures only. Usage: .venv/bin/python bench/bench_lag.py [--samples 5]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
import uuid

from labkit import aws
from labkit.config import load_config
from labkit.local import control
from labkit.ops.lab import runtime_call
from labkit.traffic.lab import LabTarget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(state_dir=tmp, emulator_port=0, db_port=0, seal_after_s=5.0)
        state, _ = control.up(config)
        try:
            s3 = aws.client("s3", config)
            login = LabTarget.resolve(config).login("writer")
            lags = []
            for _ in range(args.samples):
                tag = f"lag-probe-{uuid.uuid4().hex}"
                connection = login.connect()
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT '{tag}'")
                connection.close()
                written = time.monotonic()
                runtime_call(state.endpoint, "runtime/tick")
                while not _in_s3(s3, config.names.bucket, tag.encode()):
                    runtime_call(state.endpoint, "runtime/drain", {"timeout": 5.0})
                    if time.monotonic() - written > 60:
                        raise SystemExit(f"{tag} not in S3 after 60 s")
                lags.append(time.monotonic() - written)
        finally:
            control.down(config)
    print(f"backup lag on the local lab, {len(lags)} samples (scan triggered at once, no schedule wait):")
    print(f"  median {statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms")
    print("  on a schedule add up to one scan interval (LabConfig.scan_schedule, 1 min by default)")


def _in_s3(s3, bucket: str, needle: bytes) -> bool:  # type: ignore[no-untyped-def]
    newest = sorted(
        (
            o
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        ),
        key=lambda o: o["LastModified"],
    )[-6:]
    return any(
        needle in gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in newest
    )


if __name__ == "__main__":
    main()
