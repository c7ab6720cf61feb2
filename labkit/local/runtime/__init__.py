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
  do not match the mapping's FilterCriteria (:func:`labkit.local.deploy.downloader_stream_mapping`, the stack's
  criteria) are dropped before batching, as Lambda drops them: they never invoke the function.
  Each shard runs ``stream_parallelization_factor`` lanes at once (ParallelizationFactor), by item key: one
  file is never in two batches at once nor out of order, and a shard's checkpoint waits for its first
  unfinished record (:mod:`labkit.local.runtime.streams`).

Local speed-up: on AWS a failed SQS message comes back after the queue's visibility timeout (6 x the
function timeout: minutes). Here failed messages are made visible again after ``retry_delay_s``
(ChangeMessageVisibility), and a failed stream batch is retried after the same delay.

The package: ``lambda_runtime`` (the runtime and what it shares), ``schedule``, ``sqs`` and ``streams`` (one
event source each), ``invoke`` (the invocation, counters and batch responses), ``pipeline`` (the lab
service's start) and ``routes`` (its control API).
"""

from __future__ import annotations

from labkit.local.events import LambdaContext, scheduled_event, sqs_event
from labkit.local.runtime.invoke import FunctionStats, batch_outcome
from labkit.local.runtime.lambda_runtime import LambdaRuntime
from labkit.local.runtime.pipeline import (
    HANDLER_MODULES,
    emulator_environment,
    load_handlers,
    start_local_pipeline,
)
from labkit.local.runtime.routes import control_routes
from labkit.local.runtime.streams import ON_FAILURE_CONDITION

__all__ = [
    "HANDLER_MODULES",
    "ON_FAILURE_CONDITION",
    "FunctionStats",
    "LambdaContext",
    "LambdaRuntime",
    "batch_outcome",
    "control_routes",
    "emulator_environment",
    "load_handlers",
    "scheduled_event",
    "sqs_event",
    "start_local_pipeline",
]
