"""Stream records per copied file, and idle stream records per hour (issue 8, sequence 4).

The real detector and downloader, the local runtime's stream poller (with the mapping's filter criteria)
and the emulator; synthetic audit files grow and rotate for ``--rounds`` scans, then the lab idles for
``--idle-scans`` scans. Idle records per hour are extrapolated from those scans at the configured scan
interval. Prints figures only (never asserts). Usage: .venv/bin/python bench/bench_stream.py [--rounds 12]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from emulated import add_instance

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.scanner import InstanceMessage
from labkit.config import load_config
from labkit.local.deploy import deploy_local
from labkit.local.emulator import EmulatorServer
from labkit.local.runtime import LambdaRuntime

LINE = "20261126 15:29:21,vm,sbtest,127.0.0.1,13,{i},QUERY,sbtest,'SELECT c FROM sbtest1 WHERE id={i}',0\n"


def append(path: Path, first: int, count: int) -> None:
    with open(path, "ab") as handle:
        handle.write("".join(LINE.format(i=i) for i in range(first, first + count)).encode())


def stream_records(streams: Any, arn: str) -> int:
    count = 0
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            count += len(answer["Records"])
            if not answer["Records"]:
                break
            iterator = answer.get("NextShardIterator")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12, help="scans while the files grow")
    parser.add_argument("--lines", type=int, default=2_000, help="lines appended per round")
    parser.add_argument("--rotate-every", type=int, default=3, help="rotate the active file every N rounds")
    parser.add_argument("--idle-scans", type=int, default=30)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    server = EmulatorServer(0)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(server, Path(tmp), args)
    finally:
        server.stop()


def run(server: EmulatorServer, tmp: Path, args: argparse.Namespace) -> None:
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    rds = session.client("rds", endpoint_url=server.url)
    directory = tmp / "bench-1" / "audit"
    directory.mkdir(parents=True)
    add_instance(server, rds, "bench-1", directory, "aurora")
    config = load_config(endpoint_url=server.url, state_dir=tmp, project=f"bench-{uuid.uuid4().hex[:6]}")
    deploy_local(config)
    table = session.resource("dynamodb", endpoint_url=server.url).Table(config.names.table)
    outcomes: list[Any] = []
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    downloader = Downloader(
        rds=rds,
        s3=session.client("s3", endpoint_url=server.url),
        table=table,
        credentials=session.get_credentials(),
        bucket=config.names.bucket,
        prefix=config.log_prefix,
        lease_ms=60_000,
        max_failures=config.stream_max_retries + 1,
    )

    def handler(event: dict[str, Any], context: Any) -> Any:
        def record_handler(record: Any) -> None:
            outcomes.append(downloader.handle_record(record.raw_event))

        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    def idle(event: dict[str, Any], context: Any) -> None:
        return None

    runtime = LambdaRuntime(config, idle, idle, handler, retry_delay_s=0.0, poll_interval_s=0.01)
    runtime.resolve()
    streams = session.client("dynamodbstreams", endpoint_url=server.url)
    message = InstanceMessage("bench-1", "bench", "aurora-mysql", "aurora")

    def scan_and_settle() -> int:
        detect(rds, table, message, seal_after_s=0.0, ttl_days=30)
        passes = 1
        while runtime.poll_stream() and passes < 100:
            passes += 1
        return passes

    active, line, rotated = directory / "server_audit.log", 0, 0
    for n in range(1, args.rounds + 1):
        append(active, line, args.lines)
        line += args.lines
        if n % args.rotate_every == 0:
            rotated += 1
            os.rename(active, directory / f"server_audit.log.{rotated}")
            os.utime(directory / f"server_audit.log.{rotated}", (1_700_000_000 + n, 1_700_000_000 + n))
            append(active, line, 10)
            line += 10
        scan_and_settle()
    busy_records = stream_records(streams, runtime.stream_arn)
    stats = runtime.stats()
    items = t.instance_items(table, "bench-1")
    files = [i for i in items if i["copied_bytes"] > 0]
    increments = sum(o.action == "copied" for o in outcomes)
    delivered = stats["downloader"]["items"]
    print(f"rounds={args.rounds} files copied={len(files)} copy increments={increments}")
    print(f"stream records (all writers)      : {busy_records}")
    print(
        f"  delivered to the downloader     : {delivered} (filtered out: {stats['stream']['records_filtered']})"
    )
    print(
        f"  per copied file                 : {busy_records / len(files):.2f} in the stream, "
        f"{delivered / len(files):.2f} delivered"
    )
    print(
        f"  per copy increment              : {busy_records / increments:.2f} in the stream, "
        f"{delivered / increments:.2f} delivered"
    )
    before = stream_records(streams, runtime.stream_arn)
    delivered_before = runtime.stats()["downloader"]["items"]
    for _ in range(args.idle_scans):
        scan_and_settle()
    idle_records = stream_records(streams, runtime.stream_arn) - before
    idle_delivered = runtime.stats()["downloader"]["items"] - delivered_before
    hours = args.idle_scans * config.scan_interval_s / 3600
    print(
        f"idle: {args.idle_scans} scans (= {hours:.2f} h at one scan every {config.scan_interval_s:.0f} s): "
        f"{idle_records} stream records, {idle_delivered} delivered -> "
        f"{idle_records / hours:.1f} stream records per hour"
    )


if __name__ == "__main__":
    main()
