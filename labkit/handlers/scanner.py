"""DB Scanner (EventBridge schedules): one SQS message per Aurora MySQL instance to back up; with the daily
rule's input ``{"action": "manifest"}`` it writes yesterday's and today's manifests instead
(labkit.backup.daily_manifests)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from labkit.backup import metrics as m
from labkit.backup.daily_manifests import is_manifest_event, recent_days, write_recent_manifests
from labkit.backup.errors import BackupError
from labkit.backup.scanner import scan
from labkit.handlers import clients
from labkit.handlers.invocation import Tally, publish

logger = Logger(service="db-scanner")
metrics = Metrics(namespace=m.NAMESPACE, service=m.SERVICES["scanner"])


def _queue_url() -> str:
    """The deployed queue (``queue_url``, set by both deploys), else the one named in the config."""
    lab = clients.config()
    return lab.queue_url or clients.client("sqs").get_queue_url(QueueName=lab.names.queue)["QueueUrl"]


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_manifest_event(event):  # no heartbeat: that alarm watches the scan schedule
        return _write_manifests(context)
    tally = Tally()
    try:
        return _scan(tally)
    finally:
        publish(metrics, tally)


def _scan(tally: Tally) -> dict[str, Any]:
    config = clients.config()
    outcome = scan(
        clients.client("rds"),
        clients.client("sqs"),
        _queue_url(),
        config.engine_set,
        config.opt_out_tag,
        config.scheme_tag,
        table=clients.table(),
        spread_s=config.scan_spread_s,
    )
    tally.count(m.SCANNER_HEARTBEAT)  # absent = an alarm
    tally.count(m.INSTANCES_QUEUED, len(outcome.sent))
    tally.count(m.INSTANCES_SKIPPED, len(outcome.skipped))
    logger.info(
        "scan done", extra={"sent": outcome.sent, "skipped": outcome.skipped, "failed": outcome.failed}
    )
    if outcome.failed:  # the schedule's retry (or the next tick) tries again; never silently
        raise BackupError(f"could not queue {len(outcome.failed)} instance(s): {outcome.failed}")
    return {"sent": outcome.sent, "skipped": outcome.skipped}


def _write_manifests(context: Any) -> dict[str, Any]:
    config = clients.config()
    days = recent_days()
    run = write_recent_manifests(
        clients.client("s3"),
        config.names.bucket,
        config.log_prefix,
        days,
        time_left_ms=context.get_remaining_time_in_millis,
    )
    logger.info("manifests done", extra={"days": days, **run.summary()})
    # a Lambda error either way: a failed day pages someone (the scanner's errors alarm) to run
    # `labkit verify --manifests`; a deferred one is resumed by Lambda's asynchronous retry
    if run.failed:
        raise BackupError(f"{len(run.failed)} manifest(s) not written: {run.failed}")
    if run.deferred:
        raise BackupError(f"out of time, {len(run.deferred)} manifest(s) left for the retry: {run.deferred}")
    return {"days": list(days), **run.summary()}
