"""The local Lambda runtime: one object holding the three event sources (schedule, queue, stream) and what
they share, started and stopped together, with ``drain`` for callers that wait for the pipeline to catch up."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabNotRunningError
from labkit.local.deploy import downloader_stream_mapping, function_names, function_sizes
from labkit.local.manifest_tick import DailyManifestTick
from labkit.local.runtime.invoke import Function, FunctionStats, Handler, json_log, log
from labkit.local.runtime.schedule import ScheduleSource
from labkit.local.runtime.sqs import QueueSource
from labkit.local.runtime.streams import StreamSource
from labkit.resources import FUNCTION_KEYS


class LambdaRuntime(ScheduleSource, QueueSource, StreamSource):
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
        self._functions: dict[str, Function] = {}
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
        self._shards = {}
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
                self._functions[key] = Function(
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
        log.info(json_log("runtime_started", queue=self.config.names.queue, stream=self.stream_arn))

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
            log.warning(json_log("runtime_stop_timeout", threads=alive))
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
