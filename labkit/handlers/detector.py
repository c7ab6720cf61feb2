"""Log Detector (SQS, partial batch response): record new, grown, sealed and vanished audit files.

Its queue carries the scanner's per-instance messages and, through the alarm topic, RDS's deletion events
(a log file deleted by retention or storage pressure, an instance deleted): those run the same scan of
their instance at once, so a file deleted before it was copied is LOST now, not at the next scan.

A quiet Aurora instance skips some scheduled looks, within a bound (:mod:`labkit.backup.looks`); a change
or a deletion event brings it back to every period.

With ``detector_tailing`` on, the scanner's instances are then scanned again every few seconds until just
before their next scheduled scan or this invocation's timeout (:mod:`labkit.backup.tail`).

Every invocation keeps its own batch processor and outcomes, and publishes its metrics together at its end
(:mod:`labkit.handlers.invocation`): the local runtime runs detector invocations side by side in one
process (a tail must not hold up a deletion event).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from labkit.backup import metrics as m
from labkit.backup import tail
from labkit.backup.detector import DetectOutcome, detect
from labkit.backup.messages import instance_for_event, parse_message
from labkit.backup.rdsbudget import is_throttled
from labkit.backup.rdsevents import DeletedFile, deleted_file_in
from labkit.backup.scanner import InstanceMessage
from labkit.backup.sizing import HistoryPolicy
from labkit.handlers import clients
from labkit.handlers.invocation import Tally, publish

logger = Logger(service="log-detector")
metrics = Metrics(namespace=m.NAMESPACE, service=m.SERVICES["detector"])


def _instance(instance_id: str) -> InstanceMessage | None:
    """An RDS event's instance as the scanner would describe it (None: not one this lab backs up)."""
    config = clients.config()
    engines = config.engine_set
    return instance_for_event(
        clients.client("rds"), clients.table(), instance_id, engines, config.opt_out_tag, config.scheme_tag
    )


def scan(message: InstanceMessage, deleted: DeletedFile | None = None) -> DetectOutcome:
    """One scan of one instance: the scan entry point, for a message and for every tail round;
    ``deleted``: what the deletion event that asked for it says (evidence, see ``detect``)."""
    config = clients.config()
    outcome = detect(
        clients.client("rds"),
        clients.table(),
        message,
        seal_after_s=config.seal_after_s,
        ttl_days=config.tracking_ttl_days,
        credentials=clients.session().get_credentials(),
        complete=clients.complete_download(),
        deleted=deleted,
        history=HistoryPolicy.for_lab(config),
    )
    return outcome


def _tail_scan(message: InstanceMessage) -> DetectOutcome:
    outcome = scan(message)
    if outcome.writes or outcome.lost or outcome.unavailable:  # a quiet round is not worth a log line
        logger.info("tail scan of instance", extra={"outcome": outcome.__dict__})
    return outcome


def _sent_at(record: SQSRecord) -> float | None:
    try:
        return int(record.attributes.sent_timestamp) / 1000
    except (KeyError, TypeError, ValueError):
        return None


def _found_something(outcome: DetectOutcome) -> bool:
    """A look that recorded anything, or could not look: the instance is not quiet."""
    return bool(
        outcome.writes or outcome.lost or outcome.gaps or outcome.unavailable or outcome.instance_gone
    )


def _count(outcomes: list[DetectOutcome]) -> Tally:
    tally = Tally()
    for outcome in outcomes:
        tally.count(m.FILES_DETECTED, outcome.new)
        tally.count(m.TABLE_WRITES, outcome.writes)
        tally.count(m.RDS_CALLS, outcome.rds_calls)
        if outcome.lost:
            tally.count(m.FILES_LOST, len(outcome.lost))
        if outcome.gaps:
            tally.count(m.GAPS_RECORDED, len(outcome.gaps))
        if outcome.unavailable:
            tally.count(m.INSTANCES_UNAVAILABLE)
        if outcome.history and outcome.history.covered_scans is not None:  # unknown: nothing to measure
            tally.add(m.HISTORY_COVER_SCANS, MetricUnit.NoUnit, outcome.history.covered_scans)
        if outcome.revived or outcome.conflicts:  # a file called gone came back / a name reused
            tally.count(m.IDENTITY_ANOMALIES, len(outcome.revived) + len(outcome.conflicts))
    return tally


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    config = clients.config()
    started = time.time()
    outcomes: list[DetectOutcome] = []
    deferred: list[str] = []
    quiet_skips: list[str] = []
    scheduled: list[tuple[InstanceMessage, float | None]] = []

    def record_handler(record: SQSRecord) -> None:
        # malformed -> this record fails alone and reaches the DLQ; an unrelated RDS event -> None, dropped
        message = parse_message(record.body, resolve=_instance)
        if message is None:
            return
        scheduled_look = tail.is_scheduled_scan(record.body)
        backoff = clients.quiet_backoff() if message.scheme == "aurora" else None
        quiet_before = 0
        if backoff is not None and scheduled_look:
            due = backoff.due(message.instance_id)
            if due is None:  # quiet, and its skipped looks are not over
                quiet_skips.append(message.instance_id)
                return
            quiet_before = due
        try:
            outcome = scan(message, deleted_file_in(record.body))
        except Exception as exc:
            # a scheduled look throttled: put off, the next scheduled scan looks again (an RDS event fails
            # and is delivered again: it carries evidence)
            if not is_throttled(exc) or not scheduled_look:
                raise
            logger.warning(
                "scan put off: throttled", extra={"instance": message.instance_id, "error": str(exc)}
            )
            deferred.append(message.instance_id)
            return
        logger.info("scan of instance", extra={"outcome": outcome.__dict__})
        outcomes.append(outcome)
        if backoff is not None:  # a deletion event counts as something found: every period again
            backoff.looked(message.instance_id, quiet_before, not scheduled_look or _found_something(outcome))
        if config.detector_tailing and tail.is_scheduled_scan(record.body):
            scheduled.append((message, _sent_at(record)))

    try:
        response = process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
        if scheduled:
            report = tail.tail(
                tail.targets(scheduled, config.scan_period_s, config.scan_spread_s),
                _tail_scan,
                remaining_ms=context.get_remaining_time_in_millis,
                poll_s=config.tail_poll_s,
                margin_s=config.tail_margin_s,
                first_round_s=time.time() - started,
            )
            outcomes.extend(report.outcomes.values())
            logger.info(
                "tail ended",
                extra={
                    "rounds": report.rounds,
                    "scans": report.scans,
                    "failures": report.failures,
                    "stopped": report.stopped,
                },
            )
    finally:
        tally = _count(outcomes)
        if deferred:
            tally.count(m.THROTTLED, len(deferred))
        if quiet_skips:
            tally.count(m.QUIET_LOOKS_SKIPPED, len(quiet_skips))
        publish(metrics, tally)
    return response
