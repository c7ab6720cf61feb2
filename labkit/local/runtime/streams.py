"""The DynamoDB Streams event source of the downloader: per shard, in order (a child after its parent), the
mapping's FilterCriteria applied before batching, the partial batch response keyed by SequenceNumber,
BisectBatchOnFunctionError, ``stream_max_retries`` and an on-failure record once retries are exhausted."""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup.streamfilter import matches_criteria
from labkit.local.events import iso, iso_now, jsonable
from labkit.local.runtime.invoke import Outcome, RuntimeBase, json_log, log

ON_FAILURE_CONDITION = "RetryAttemptsExhausted"


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    checkpoint: str | None = None  # sequence number of the last record done with
    closed: bool = False


class StreamSource(RuntimeBase):
    _shards: dict[str, _Shard]

    def _stream_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                worked = self.poll_stream()
            except ClientError as exc:
                log.error(json_log("stream_poll_error", error=str(exc)))
                worked = True  # not known to be idle
            with self._lock:
                self._stream_idle_since = None if worked else started
            if not worked:
                self._stop.wait(self.poll_interval_s)

    def poll_stream(self) -> bool:
        """One pass over every readable shard; returns whether any record was read."""
        self._refresh_shards()
        worked = False
        for shard in list(self._shards.values()):
            if self._stop.is_set():
                return True
            if shard.closed or not self._parent_done(shard):
                continue
            records = self._read(shard)
            if records:
                worked = True
                with self._lock:
                    self._in_flight += 1  # until every record is done with, retry waits included
                try:
                    self._deliver(shard, records)
                finally:
                    with self._lock:
                        self._in_flight -= 1
                    self._touch()
        return worked

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        """Apply the filter criteria, invoke with what passes, then move the checkpoint past all read."""
        shaped = [self._stream_record(r) for r in records]
        passed = [r for r in shaped if matches_criteria(self.filter_criteria, r)]
        with self._lock:
            self.records_read += len(shaped)
            self.records_filtered += len(shaped) - len(passed)
        if passed and not self._process_stream_batch(shard, passed):
            return  # stopping mid-retry: the checkpoint stays before the unfinished record
        shard.checkpoint = shaped[-1]["dynamodb"]["SequenceNumber"]

    def _refresh_shards(self) -> None:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            for raw in description.get("Shards", []):
                if raw["ShardId"] not in self._shards:
                    self._shards[raw["ShardId"]] = _Shard(raw["ShardId"], raw.get("ParentShardId"))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            kwargs["ExclusiveStartShardId"] = last

    def _parent_done(self, shard: _Shard) -> bool:
        """Records are in order per key only if a child shard waits for its parent to be read to the end."""
        parent = self._shards.get(shard.parent) if shard.parent else None
        return parent is None or parent.closed

    def _read(self, shard: _Shard) -> list[dict[str, Any]]:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            answer = self._streams.get_records(
                ShardIterator=shard.iterator, Limit=self.config.stream_batch_size
            )
        except ClientError as exc:
            if aws.error_code(exc) not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            shard.iterator = self._iterator(shard)
            answer = self._streams.get_records(
                ShardIterator=shard.iterator, Limit=self.config.stream_batch_size
            )
        shard.iterator = answer.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        return list(answer.get("Records", []))

    def _iterator(self, shard: _Shard) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if shard.checkpoint:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.checkpoint)
        else:
            kwargs["ShardIteratorType"] = self.starting_position
        return str(self._streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def _process_stream_batch(self, shard: _Shard, records: list[dict[str, Any]]) -> bool:
        """Invoke until every record succeeded or went to the on-failure queue, in sequence order.

        A failure (raise, invalid response, or batchItemFailures) checkpoints before the lowest failed
        sequence number; the rest is split in half (BisectBatchOnFunctionError) and retried, first half
        first. Splits do not use up retries; a single record that keeps failing is retried
        ``stream_max_retries`` times, then reported to the on-failure destination and skipped.
        Returns False when stopped before every record was done with.
        """
        work: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while work:
            batch, retries = work.popleft()
            sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
            outcome = self._invoke("downloader", {"Records": batch}, item_ids=sequence)
            if outcome.failed is None:
                shard.checkpoint = sequence[-1]
                continue
            # records are in sequence order: the lowest failed sequence number is the first failed index
            failed = outcome.failed
            first_failed = 0 if outcome.error else next(i for i, n in enumerate(sequence) if n in failed)
            if first_failed:
                shard.checkpoint = sequence[first_failed - 1]
            rest = batch[first_failed:]
            if len(rest) > 1:
                half = len(rest) // 2
                work.appendleft((rest[half:], retries))
                work.appendleft((rest[:half], retries))
                continue
            if retries >= self.config.stream_max_retries:
                self._send_on_failure(shard, rest, retries + 1, outcome)
                shard.checkpoint = sequence[-1]
                continue
            if self._stop.wait(self.retry_delay_s):
                # stopping mid-retry: forget the shard position so a restart reads from the checkpoint
                shard.iterator = None
                shard.closed = False
                return False
            work.appendleft((rest, retries + 1))
        return True

    def _stream_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A GetRecords record as Lambda delivers it: JSON types and the eventSourceARN."""
        shaped = jsonable(record)
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            shaped["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
        shaped["eventSourceARN"] = self.stream_arn
        return shaped

    def _send_on_failure(
        self, shard: _Shard, records: list[dict[str, Any]], invocations: int, outcome: Outcome
    ) -> None:
        function = self._functions["downloader"]
        first, last = records[0], records[-1]
        message: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function.arn,
                "condition": ON_FAILURE_CONDITION,
                "approximateInvokeCount": invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": function.version,
                **({"functionError": "Unhandled"} if outcome.error else {}),
            },
            "version": "1.0",
            "timestamp": iso_now(millis=True),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(first["dynamodb"].get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": iso(last["dynamodb"].get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self.failures_url, MessageBody=json.dumps(message))
        self.on_failure_sent += 1
        log.error(json_log("stream_batch_to_on_failure", **message["DDBStreamBatchInfo"]))
