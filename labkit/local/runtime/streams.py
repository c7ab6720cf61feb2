"""The DynamoDB Streams event source of the downloader: per shard, in order (a child after its parent), the
mapping's FilterCriteria applied before batching, the partial batch response keyed by SequenceNumber,
BisectBatchOnFunctionError, ``stream_max_retries`` and an on-failure record once retries are exhausted.

ParallelizationFactor (``stream_parallelization_factor``): as Lambda does, each shard's records are spread
over that many lanes by item key (partition and sort key: one audit file), each lane invoked one batch at a
time in sequence order, the lanes of every shard at once. One item is in one lane, so it is never in two
batches at once nor out of order. The shard's checkpoint moves past a record only when it and every record
before it in the shard are done with (succeeded, filtered out or sent to the on-failure queue), so a restart
reads again from the first unfinished record, as Lambda's per-shard checkpoint does. Retries, bisection and
the on-failure record work per lane batch. Simplification: the lanes of one read wait for each other before
the shard is read again (Lambda's lanes go on independently), so a slow lane holds its shard's next read.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup.streamfilter import item_key, matches_criteria
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


@dataclass
class _Progress:
    """What of one read is done with: the checkpoint is the last record of the done prefix."""

    sequence: list[str]  # every record read, in sequence order
    done: set[str] = field(default_factory=set)
    upto: int = 0  # records sequence[:upto] are done with
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, numbers: list[str]) -> str | None:
        """Record ``numbers`` as done; returns the new checkpoint, or None when it did not move."""
        with self.lock:
            self.done.update(numbers)
            before = self.upto
            while self.upto < len(self.sequence) and self.sequence[self.upto] in self.done:
                self.upto += 1
            return self.sequence[self.upto - 1] if self.upto > before else None


def lane_of(record: dict[str, Any], lanes: int) -> int:
    """The lane of a record: a stable hash of its item key, so one file always goes to one lane."""
    return zlib.crc32(item_key(record).encode()) % lanes


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
        """One pass over every readable shard; returns whether any record was read.

        Every shard readable at the start of the pass is read once, then all their lanes are invoked at
        once; a child shard becomes readable only in a pass after its parent was read to the end."""
        self._refresh_shards()
        readable = [s for s in self._shards.values() if not s.closed and self._parent_done(s)]
        reads: list[tuple[_Shard, list[dict[str, Any]]]] = []
        for shard in readable:
            if self._stop.is_set():
                break  # what was read is still delivered: the iterators have moved past it
            records = self._read(shard)
            if records:
                reads.append((shard, records))
        if not reads:
            return False
        with self._lock:
            self._in_flight += 1  # until every record is done with, retry waits included
        try:
            self._deliver(reads)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._touch()
        return True

    def _deliver(self, reads: list[tuple[_Shard, list[dict[str, Any]]]]) -> None:
        """Apply the filter criteria, then invoke every shard's lanes with what passes, all at once; each
        shard's checkpoint moves past the done prefix of its read (all of it, unless stopped mid-retry)."""
        lanes = max(1, self.config.stream_parallelization_factor)
        jobs: list[tuple[_Shard, _Progress, list[dict[str, Any]]]] = []
        for shard, records in reads:
            shaped = [self._stream_record(r) for r in records]
            passed = [r for r in shaped if matches_criteria(self.filter_criteria, r)]
            with self._lock:
                self.records_read += len(shaped)
                self.records_filtered += len(shaped) - len(passed)
            progress = _Progress([r["dynamodb"]["SequenceNumber"] for r in shaped])
            kept = {id(r) for r in passed}
            self._advance(shard, progress, [_seq(r) for r in shaped if id(r) not in kept])
            by_lane: dict[int, list[dict[str, Any]]] = {}
            for record in passed:
                by_lane.setdefault(lane_of(record, lanes) if lanes > 1 else 0, []).append(record)
            jobs.extend((shard, progress, batch) for batch in by_lane.values())
        if len(jobs) == 1:
            self._process_stream_batch(*jobs[0])
            return
        threads = [
            threading.Thread(target=self._lane(*job), name=f"lambda-stream-lane-{n}", daemon=True)
            for n, job in enumerate(jobs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _lane(self, shard: _Shard, progress: _Progress, records: list[dict[str, Any]]) -> Callable[[], None]:
        def lane() -> None:
            self._process_stream_batch(shard, progress, records)

        return self._guard(lane)

    def _advance(self, shard: _Shard, progress: _Progress, numbers: list[str]) -> None:
        checkpoint = progress.mark(numbers)
        if checkpoint is not None:
            with self._lock:
                shard.checkpoint = checkpoint

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

    def _process_stream_batch(
        self, shard: _Shard, progress: _Progress, records: list[dict[str, Any]]
    ) -> bool:
        """Invoke until every record of one lane succeeded or went to the on-failure queue, in sequence order.

        A failure (raise, invalid response, or batchItemFailures) counts the records before the lowest failed
        sequence number as done; the rest is split in half (BisectBatchOnFunctionError) and retried, first
        half first. Splits do not use up retries; a single record that keeps failing is retried
        ``stream_max_retries`` times, then reported to the on-failure destination and skipped.
        Returns False when stopped before every record was done with.
        """
        work: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while work:
            batch, retries = work.popleft()
            sequence = [_seq(r) for r in batch]
            outcome = self._invoke("downloader", {"Records": batch}, item_ids=sequence)
            if outcome.failed is None:
                self._advance(shard, progress, sequence)
                continue
            # records are in sequence order: the lowest failed sequence number is the first failed index
            failed = outcome.failed
            first_failed = 0 if outcome.error else next(i for i, n in enumerate(sequence) if n in failed)
            self._advance(shard, progress, sequence[:first_failed])
            rest = batch[first_failed:]
            if len(rest) > 1:
                half = len(rest) // 2
                work.appendleft((rest[half:], retries))
                work.appendleft((rest[:half], retries))
                continue
            if retries >= self.config.stream_max_retries:
                self._send_on_failure(shard, rest, retries + 1, outcome)
                self._advance(shard, progress, sequence)
                continue
            if self._stop.wait(self.retry_delay_s):
                # stopping mid-retry: forget the shard position so a restart reads from the checkpoint
                with self._lock:
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
        with self._lock:
            self.on_failure_sent += 1
        log.error(json_log("stream_batch_to_on_failure", **message["DDBStreamBatchInfo"]))


def _seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])
