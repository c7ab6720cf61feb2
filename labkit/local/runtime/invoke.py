"""How the local runtime invokes a handler: the function as deployed, its counters, and the partial batch
response read the way Lambda reads it."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labkit.config import LabConfig
from labkit.local.events import LambdaContext
from labkit.local.manifest_tick import DailyManifestTick

log = logging.getLogger("labkit.runtime")

Handler = Callable[[dict[str, Any], Any], Any]


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
class Function:
    """A deployed function as its event sources invoke it: the alias, its version and its sizes."""

    key: str
    name: str
    handler: Handler
    arn: str  # alias ARN: what the event source invokes
    version: str
    timeout_s: int
    memory_mb: int


@dataclass
class Outcome:
    """What an invocation left: None = every item succeeded; otherwise the failed item ids."""

    failed: set[str] | None
    error: str = ""  # non-empty: the function failed as a whole (raised or an invalid response)


class RuntimeBase:
    """The state the event sources share (set up by :class:`~labkit.local.runtime.LambdaRuntime`), and the
    invocation every source goes through: counters, in-flight bookkeeping for ``drain`` and a JSON event."""

    config: LabConfig
    retry_delay_s: float
    poll_interval_s: float
    first_tick_s: float
    starting_position: str
    filter_criteria: dict[str, Any] | None
    manifest_tick: DailyManifestTick
    queue_url: str
    queue_arn: str
    failures_url: str
    failures_arn: str
    stream_arn: str
    rule_arn: str
    on_failure_sent: int
    records_read: int
    records_filtered: int
    _functions: dict[str, Function]
    _stats: dict[str, FunctionStats]
    _stop: threading.Event
    _lock: threading.Lock
    _batches: list[threading.Thread]
    _slots: threading.BoundedSemaphore
    _in_flight: int
    _last_activity: float
    _stream_idle_since: float | None
    _sqs: Any
    _streams: Any

    def resolve(self) -> None:
        raise NotImplementedError

    def _invoke(self, key: str, event: dict[str, Any], item_ids: list[str]) -> Outcome:
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
            outcome = batch_outcome(function.handler(payload, context), item_ids)
            if outcome.error:
                log.error(json_log("invalid_batch_response", **request, error=outcome.error))
        except Exception as exc:  # a handler error must never kill the poller
            log.exception(json_log("handler_error", **request, error=repr(exc)))
            outcome = Outcome(failed=set(item_ids), error=repr(exc))
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

    def _touch(self) -> None:
        with self._lock:
            self._last_activity = time.monotonic()

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:
                log.exception(json_log("runtime_loop_crashed", loop=loop.__name__))

        return run


def batch_outcome(result: Any, item_ids: list[str]) -> Outcome:
    """Read a partial batch response the way Lambda does: anything malformed fails the whole batch."""
    if result is None or not isinstance(result, dict) or "batchItemFailures" not in result:
        return Outcome(failed=None)
    failures = result["batchItemFailures"]
    if failures is None or failures == []:
        return Outcome(failed=None)
    known = set(item_ids)
    failed: set[str] = set()
    for failure in failures if isinstance(failures, list) else [failures]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in known:
            return Outcome(failed=known, error=f"invalid batchItemFailures entry {failure!r}")
        failed.add(identifier)
    return Outcome(failed=failed)


def json_log(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, **fields}, default=str)


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
