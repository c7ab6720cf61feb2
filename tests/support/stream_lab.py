"""A deployed local lab whose DynamoDB stream feeds a real Downloader through the local runtime's poller, stepped
by hand (``poll_stream``) so nothing depends on timing."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig, load_config
from labkit.local.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime
from tests.support.emulated import EmulatedAccount


class StreamLab:
    """A deployed lab whose stream feeds a real Downloader through the runtime's poller."""

    def __init__(self, account: EmulatedAccount, config: LabConfig) -> None:
        self.account, self.config = account, config
        deploy_local(config)
        self.table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
        self.invocations: Counter[str] = Counter()  # per file identity: invocations that carried it
        self.outcomes: list[Any] = []

        def record_handler(record: Any) -> None:
            self.outcomes.append(self.downloader().handle_record(record.raw_event))

        def handler(event: dict[str, Any], context: Any) -> Any:
            for r in event["Records"]:
                self.invocations[r["dynamodb"]["Keys"]["sk"]["S"]] += 1
            # a processor per invocation: the runtime runs lanes at once, and a processor keeps its batch
            processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )

        def idle(event: dict[str, Any], context: Any) -> None:
            return None

        self.runtime = LambdaRuntime(config, idle, idle, handler, retry_delay_s=0.0, poll_interval_s=0.01)
        self.runtime.resolve()
        self.streams = account.client("dynamodbstreams")

    def downloader(self) -> Downloader:
        return Downloader(
            rds=self.account.rds,
            s3=self.account.client("s3"),
            table=self.table,
            credentials=self.account.session.get_credentials(),
            bucket=self.config.names.bucket,
            prefix=self.config.log_prefix,
            lease_ms=60_000,
            max_failures=self.config.stream_max_retries + 1,
        )

    def detect(self, instance_id: str, seal_after_s: float = 3600.0) -> Any:
        message = InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora")
        return detect(self.account.rds, self.table, message, seal_after_s=seal_after_s, ttl_days=30)

    def settle(self, passes: int = 60) -> int:
        """Poll until a pass reads nothing; returns the passes it took (fails if it never goes quiet)."""
        for n in range(1, passes + 1):
            if not self.runtime.poll_stream():
                return n
        raise AssertionError(f"the stream was still busy after {passes} passes")

    def stream_records(self) -> int:
        """Every record in the table's stream, read from the start (what the downloader could be fed)."""
        return len(stream_sequence_numbers(self.streams, self.runtime.stream_arn))

    def items(self, instance_id: str) -> list[dict[str, Any]]:
        return t.instance_items(self.table, instance_id)


def stream_sequence_numbers(streams: Any, arn: str, limit: int = 1000) -> list[str]:
    """The sequence number of every record in a stream, read from the start, ``limit`` records per call.
    Bounded: a stream that hands one record back forever (a repeated sequence number) fails, never hangs."""
    numbers: list[str] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(100_000):
            answer = streams.get_records(ShardIterator=iterator, Limit=limit)
            if not answer["Records"]:
                break
            numbers += [r["dynamodb"]["SequenceNumber"] for r in answer["Records"]]
            iterator = answer.get("NextShardIterator")
            if not iterator:
                break
        else:
            raise AssertionError(f"{shard['ShardId']} never ended: a record read again and again?")
    return numbers


def stream_lab(account: EmulatedAccount, state_dir: Path, **settings: Any) -> StreamLab:
    """A StreamLab deployed under a project name of its own (moto's backends live as long as the process);
    ``settings`` are LabConfig fields (stream batch size, retries ...)."""
    config = load_config(
        endpoint_url=account.url, state_dir=state_dir, project=f"lab-{uuid.uuid4().hex[:8]}", **settings
    )
    return StreamLab(account, config)
