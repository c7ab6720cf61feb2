"""The local Lambda runtime: the three handlers driven in-process from their event sources.

moto cannot invoke container-image functions, and its event source mappings break the stream and the queue
(REFERENCE.md), so this module plays the Lambda service's part against the emulator, AWS-shaped:

* an EventBridge ticker invokes the scanner with a ``Scheduled Event`` every ``scan_interval_s``;
* an SQS poller feeds the detector batches of ``sqs_batch_size`` and honours the partial batch response
  (``batchItemFailures``): successes are deleted, failures become visible again; moto's own RedrivePolicy
  moves a message to the DLQ at the receive after ``maxReceiveCount``. As Lambda's poller does, it runs
  up to ``detector_concurrency`` batches at once, each in its own thread: a tailing detector
  (:mod:`labkit.backup.tail`) holds its batch for up to a scan period, and must not hold up an RDS
  deletion event or another instance's scan behind it;
* a DynamoDB Streams poller feeds the downloader batches of ``stream_batch_size`` per shard, in order, with
  the partial batch response keyed by ``SequenceNumber``, BisectBatchOnFunctionError, ``stream_max_retries``
  and an on-failure record sent to the ``stream_failures`` queue once retries are exhausted. Records that
  do not match the mapping's FilterCriteria (:func:`labkit.deploy.downloader_stream_mapping`, the stack's
  criteria) are dropped before batching, as Lambda drops them: they never invoke the function.

Local speed-up: on AWS a failed SQS message comes back after the queue's visibility timeout (6 x the
function timeout: minutes). Here failed messages are made visible again after ``retry_delay_s``
(ChangeMessageVisibility), and a failed stream batch is retried after the same delay.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup.streamfilter import matches_criteria
from labkit.config import LabConfig
from labkit.deploy import deploy_local, downloader_stream_mapping, function_names, function_sizes
from labkit.errors import LabkitError, LabNotRunningError
from labkit.local.events import LambdaContext, iso, iso_now, jsonable, scheduled_event, sqs_event
from labkit.local.manifest_tick import DailyManifestTick
from labkit.resources import FUNCTION_KEYS

log = logging.getLogger("labkit.runtime")

Handler = Callable[[dict[str, Any], Any], Any]
ON_FAILURE_CONDITION = "RetryAttemptsExhausted"


@dataclass
class FunctionStats:
    """Counters per function, for a status view."""

    invocations: int = 0
    errors: int = 0  # the handler raised (or answered with an invalid batch response)
    items: int = 0  # records or messages delivered
    item_failures: int = 0  # items reported in batchItemFailures
    last_error: str = ""
    last_invoked_at: float = 0.0


@dataclass
class _Function:
    key: str
    name: str
    handler: Handler
    arn: str  # alias ARN: what the event source invokes
    version: str
    timeout_s: int
    memory_mb: int


@dataclass
class _Outcome:
    """What an invocation left: None = every item succeeded; otherwise the failed item ids."""

    failed: set[str] | None
    error: str = ""  # non-empty: the function failed as a whole (raised or an invalid response)


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    checkpoint: str | None = None  # sequence number of the last record done with
    closed: bool = False


# -- the runtime ----------------------------------------------------------------------------------------------
class LambdaRuntime:
    """Runs the scanner, detector and downloader in-process against the emulator, as Lambda would.

    Handlers are plain callables ``handler(event, context)``, so tests can pass fakes.
    """

    def __init__(
        self,
        config: LabConfig,
        scanner: Handler,
        detector: Handler,
        downloader: Handler,
        *,
        retry_delay_s: float = 1.0,
        poll_interval_s: float = 0.2,
        first_tick_s: float | None = None,
        starting_position: str = "TRIM_HORIZON",
        filter_criteria: dict[str, Any] | None = None,
        detector_concurrency: int = 5,
    ) -> None:
        self.config = config
        self.retry_delay_s = retry_delay_s
        self.poll_interval_s = poll_interval_s
        self.first_tick_s = config.scan_interval_s if first_tick_s is None else first_tick_s
        self.starting_position = starting_position
        self._handlers = {"scanner": scanner, "detector": detector, "downloader": downloader}
        self._functions: dict[str, _Function] = {}
        self._stats = {key: FunctionStats() for key in FUNCTION_KEYS}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._batches: list[threading.Thread] = []  # detector invocations running
        self._slots = threading.BoundedSemaphore(max(1, detector_concurrency))
        # the daily manifest rule's stand-in: after a scan, once per UTC day
        self.manifest_tick = DailyManifestTick(lambda event: self._invoke("scanner", event, []))
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._stream_idle_since: float | None = None  # start of the last pass that found nothing to do
        self._shards: dict[str, _Shard] = {}
        self.on_failure_sent = 0
        self.records_read = 0  # stream records read, filtered out or not
        self.records_filtered = 0  # dropped by the filter criteria: never delivered
        self.filter_criteria = filter_criteria  # None: the deployed mapping's (resolved)
        self._sqs = aws.client("sqs", config)
        self._streams = aws.client("dynamodbstreams", config)
        self._resolved = False

    # -- lifecycle ---------------------------------------------------------------------------------------
    def resolve(self) -> None:
        """Look up the deployed resources by their configured names (deploy_local made them)."""
        if self._resolved:
            return
        names = self.config.names
        try:
            self.queue_url = self._sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
            self.queue_arn = self._queue_arn(self.queue_url)
            self.failures_url = self._sqs.get_queue_url(QueueName=names.stream_failures)["QueueUrl"]
            table = aws.client("dynamodb", self.config).describe_table(TableName=names.table)["Table"]
            self.stream_arn = str(table["LatestStreamArn"])
            self.rule_arn = str(
                aws.client("events", self.config).describe_rule(Name=names.schedule_rule)["Arn"]
            )
            self.failures_arn = self._queue_arn(self.failures_url)
            lam = aws.client("lambda", self.config)
            sizes = function_sizes(self.config)
            for key, name in function_names(self.config).items():
                alias = lam.get_alias(FunctionName=name, Name=names.alias)
                timeout, memory = sizes[key]
                self._functions[key] = _Function(
                    key,
                    name,
                    self._handlers[key],
                    alias["AliasArn"],
                    alias["FunctionVersion"],
                    timeout,
                    memory,
                )
            if self.filter_criteria is None:
                mapping = downloader_stream_mapping(
                    self.config, self.stream_arn, self._functions["downloader"].arn, self.failures_arn
                )
                self.filter_criteria = mapping["FilterCriteria"]
        except (ClientError, KeyError) as exc:
            raise LabNotRunningError(
                f"the application resources are not deployed in the emulator ({exc}): run deploy_local first"
            ) from exc
        self._resolved = True

    def start(self) -> None:
        """Start the ticker and both pollers in daemon threads."""
        self.resolve()
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._guard(self._ticker), name="lambda-ticker", daemon=True),
            threading.Thread(target=self._guard(self._sqs_loop), name="lambda-sqs", daemon=True),
            threading.Thread(target=self._guard(self._stream_loop), name="lambda-stream", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info(_json_log("runtime_started", queue=self.config.names.queue, stream=self.stream_arn))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loops; an invocation in progress is allowed to finish."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            batches = list(self._batches)
        for thread in [*self._threads, *batches]:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in [*self._threads, *batches] if t.is_alive()]
        if alive:
            log.warning(_json_log("runtime_stop_timeout", threads=alive))
        self._threads = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until the queue is empty, the stream has no unread records and nothing is in flight.

        Returns False when that did not happen within ``timeout`` seconds.
        """
        called = time.monotonic()
        deadline = called + timeout
        while time.monotonic() < deadline:
            if self._idle(since=called):
                return True
            time.sleep(min(self.poll_interval_s, 0.1))
        return False

    wait_idle = drain

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            view = {key: asdict(stats) for key, stats in self._stats.items()}
        view["stream"] = {
            "on_failure_sent": self.on_failure_sent,
            "shards": len(self._shards),
            "records_read": self.records_read,
            "records_filtered": self.records_filtered,
        }
        return view

    # -- EventBridge ---------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Invoke the scanner with a Scheduled Event now (what the rule does every interval)."""
        self.resolve()
        self._invoke("scanner", scheduled_event(self.rule_arn, self.config.region), item_ids=[])

    def _ticker(self) -> None:
        wait = self.first_tick_s
        while not self._stop.wait(wait):
            try:
                self.tick()
                self.manifest_tick()
            except Exception:  # a failed scan is logged by _invoke; keep the schedule
                log.exception(_json_log("ticker_error"))
            wait = self.config.scan_interval_s

    # -- SQS -----------------------------------------------------------------------------------------------
    def _sqs_loop(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self.poll_interval_s):
                continue  # every slot busy: no receive (Lambda's poller does not take what it cannot run)
            dispatched = False
            try:
                dispatched = worked = self._dispatch_batch()
            except ClientError as exc:
                log.error(_json_log("sqs_poll_error", error=str(exc)))
                worked = False
            finally:
                if not dispatched:
                    self._slots.release()
            if not worked:
                self._stop.wait(self.poll_interval_s)

    def _dispatch_batch(self) -> bool:
        """Receive a batch and invoke the detector with it in a thread of its own (which frees the slot)."""
        with self._lock:
            self._in_flight += 1  # a received message is work in flight until deleted or released
        handed_over = False
        try:
            messages = self._receive()
            if not messages:
                return False
            thread = threading.Thread(
                target=self._batch_thread, args=(messages,), name="lambda-detector", daemon=True
            )
            with self._lock:
                self._batches = [t for t in self._batches if t.is_alive()] + [thread]
            thread.start()
            handed_over = True
            return True
        finally:
            if not handed_over:
                with self._lock:
                    self._in_flight -= 1
                self._touch()

    def _batch_thread(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._run_batch(messages)
        except ClientError as exc:
            log.error(_json_log("sqs_batch_error", error=str(exc)))
        finally:
            self._slots.release()
            with self._lock:
                self._in_flight -= 1
            self._touch()

    def poll_queue(self) -> bool:
        """One receive -> invoke -> delete round in this thread; returns whether there were messages."""
        with self._lock:
            self._in_flight += 1  # a received message is work in flight until deleted or released
        try:
            messages = self._receive()
            if not messages:
                return False
            self._run_batch(messages)
            return True
        finally:
            with self._lock:
                self._in_flight -= 1
            self._touch()

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.config.sqs_batch_size, 10),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _run_batch(self, messages: list[dict[str, Any]]) -> None:
        """Invoke the detector with one received batch, then delete its successes and release its failures."""
        self._touch()
        if self._stop.is_set():  # stopping: hand the messages back untouched
            self._change_visibility(messages, 0)
            return
        event = sqs_event(messages, self.queue_arn, self.config.region)
        outcome = self._invoke("detector", event, item_ids=[m["MessageId"] for m in messages])
        failed = outcome.failed or set()
        self._delete([m for m in messages if m["MessageId"] not in failed])
        # local speed-up: AWS waits out the visibility timeout (minutes); come back after retry_delay_s
        self._change_visibility([m for m in messages if m["MessageId"] in failed], round(self.retry_delay_s))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for chunk in _chunks(messages, 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in answer.get("Failed", []):
                log.error(_json_log("sqs_delete_failed", **failure))

    def _change_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for chunk in _chunks(messages, 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(chunk)
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def _queue_arn(self, url: str) -> str:
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def _queue_empty(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())

    # -- DynamoDB Streams ----------------------------------------------------------------------------------
    def _stream_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                worked = self.poll_stream()
            except ClientError as exc:
                log.error(_json_log("stream_poll_error", error=str(exc)))
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
        self, shard: _Shard, records: list[dict[str, Any]], invocations: int, outcome: _Outcome
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
        log.error(_json_log("stream_batch_to_on_failure", **message["DDBStreamBatchInfo"]))

    # -- invocation ----------------------------------------------------------------------------------------
    def _invoke(self, key: str, event: dict[str, Any], item_ids: list[str]) -> _Outcome:
        function = self._functions[key]
        context = LambdaContext(
            function_name=function.name,
            function_version=function.version,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{function.name}",
            log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[{function.version}]{uuid.uuid4().hex}",
            timeout_s=function.timeout_s,
        )
        payload = json.loads(json.dumps(event))  # exactly what a JSON event would carry
        with self._lock:
            stats = self._stats[key]
            stats.invocations += 1
            stats.items += len(item_ids)
            stats.last_invoked_at = time.time()
            self._in_flight += 1
        request = {"function": function.name, "request_id": context.aws_request_id}
        try:
            outcome = _batch_outcome(function.handler(payload, context), item_ids)
            if outcome.error:
                log.error(_json_log("invalid_batch_response", **request, error=outcome.error))
        except Exception as exc:  # a handler error must never kill the poller
            log.exception(_json_log("handler_error", **request, error=repr(exc)))
            outcome = _Outcome(failed=set(item_ids), error=repr(exc))
        finally:
            with self._lock:
                self._in_flight -= 1
            self._touch()
        with self._lock:
            if outcome.error:
                stats.errors += 1
                stats.last_error = outcome.error
            elif outcome.failed:
                stats.item_failures += len(outcome.failed)
        return outcome

    # -- idle detection -------------------------------------------------------------------------------------
    def _touch(self) -> None:
        with self._lock:
            self._last_activity = time.monotonic()

    def _idle(self, since: float) -> bool:
        with self._lock:
            busy = self._in_flight > 0
            stream_idle = self._stream_idle_since
            last = max(self._last_activity, since)
        if busy or stream_idle is None or stream_idle < last:
            return False
        try:
            return self._queue_empty()
        except ClientError:
            return False

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:
                log.exception(_json_log("runtime_loop_crashed", loop=loop.__name__))

        return run


# -- the lab service's pipeline -----------------------------------------------------------------------------------
HANDLER_MODULES = {
    "scanner": "labkit.handlers.scanner",
    "detector": "labkit.handlers.detector",
    "downloader": "labkit.handlers.downloader",
}


def emulator_environment(config: LabConfig, endpoint: str) -> dict[str, str]:
    """What makes the handlers' own boto3 clients (SDK defaults, as on AWS) talk to the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": config.region,
        "LABKIT_ENDPOINT_URL": endpoint,
    }


def load_handlers() -> dict[str, Handler] | None:
    """The real ``lambda_handler`` of each function, or None (logged) when they cannot be imported."""
    handlers: dict[str, Handler] = {}
    for key, module_name in HANDLER_MODULES.items():
        try:
            module = importlib.import_module(module_name)
            handlers[key] = module.lambda_handler
        except Exception as exc:  # a broken or missing handler must not keep the lab from starting
            log.warning(_json_log("handlers_unavailable", module=module_name, error=repr(exc)))
            return None
    return handlers


def start_local_pipeline(
    config: LabConfig, endpoint: str, before_start: Callable[[], None] | None = None
) -> LambdaRuntime | None:
    """Deploy the application resources in the emulator, then run the handlers from their event sources.

    ``before_start`` runs between the two (the service restores its snapshot there: the resources exist,
    nothing reads the stream yet). Used by the lab service (``labkit local up``). Returns None, logged, when
    the deploy failed or the handlers cannot be imported: the lab still serves the emulator and the databases.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):  # nothing may route a handler to a real account
        os.environ.pop(name, None)
    os.environ.update(emulator_environment(config, endpoint))
    local = replace(config, endpoint_url=endpoint)
    try:
        deployed = deploy_local(local)
    except LabkitError as exc:
        log.error(_json_log("deploy_failed", error=str(exc)))
        return None
    # as the stack does in the scanner's function environment: the queue it sends to (config.queue_url)
    os.environ["LABKIT_QUEUE_URL"] = deployed.queue_url
    if before_start is not None:
        before_start()
    handlers = load_handlers()
    if handlers is None:
        return None
    runtime = LambdaRuntime(local, handlers["scanner"], handlers["detector"], handlers["downloader"])
    runtime.start()
    return runtime


def control_routes(runtime: LambdaRuntime) -> dict[str, Callable[[str, bytes], Any]]:
    """``/labkit-api/`` routes for other processes (notebooks, the lab's main job, status views).

    GET ``runtime`` -> counters per function; POST ``runtime/tick`` -> run the scanner now;
    POST ``runtime/drain`` with ``{"timeout": s}`` -> ``{"idle": bool}`` once the pipeline caught up.
    """

    def stats(method: str, body: bytes) -> Any:
        return {"running": runtime.running, **runtime.stats()}

    def tick(method: str, body: bytes) -> Any:
        runtime.tick()
        return {"ticked": True}

    def drain(method: str, body: bytes) -> Any:
        timeout = float(json.loads(body or b"{}").get("timeout", 60.0))
        return {"idle": runtime.drain(timeout)}

    return {"runtime": stats, "runtime/tick": tick, "runtime/drain": drain}


def _batch_outcome(result: Any, item_ids: list[str]) -> _Outcome:
    """Read a partial batch response the way Lambda does: anything malformed fails the whole batch."""
    if result is None or not isinstance(result, dict) or "batchItemFailures" not in result:
        return _Outcome(failed=None)
    failures = result["batchItemFailures"]
    if failures is None or failures == []:
        return _Outcome(failed=None)
    known = set(item_ids)
    failed: set[str] = set()
    for failure in failures if isinstance(failures, list) else [failures]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in known:
            return _Outcome(failed=known, error=f"invalid batchItemFailures entry {failure!r}")
        failed.add(identifier)
    return _Outcome(failed=failed)


# -- helpers ----------------------------------------------------------------------------------------------------
def _json_log(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, **fields}, default=str)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


__all__ = [
    "FunctionStats",
    "LambdaContext",
    "LambdaRuntime",
    "control_routes",
    "load_handlers",
    "scheduled_event",
    "sqs_event",
    "start_local_pipeline",
]
