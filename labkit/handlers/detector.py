"""Log Detector (SQS, partial batch response): record new, grown, sealed and vanished audit files.

Its queue carries the scanner's per-instance messages and, through the alarm topic, RDS's deletion events
(a log file deleted by retention or storage pressure, an instance deleted): those run the same scan of
their instance at once, so a file deleted before it was copied is LOST now, not at the next scan."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from labkit.backup import metrics as m
from labkit.backup.detector import detect, instance_for_event, parse_message
from labkit.backup.scanner import InstanceMessage
from labkit.handlers import clients

logger = Logger(service="log-detector")
metrics = Metrics(namespace=m.NAMESPACE, service=m.SERVICES["detector"])
processor = BatchProcessor(event_type=EventType.SQS)


def _instance(instance_id: str) -> InstanceMessage | None:
    """An RDS event's instance as the scanner would describe it (None: not one this lab backs up)."""
    config = clients.config()
    engines = config.engine_set
    return instance_for_event(
        clients.client("rds"), clients.table(), instance_id, engines, config.opt_out_tag, config.scheme_tag
    )


def record_handler(record: SQSRecord) -> None:
    # malformed -> this record fails alone and reaches the DLQ; an unrelated RDS event -> None, dropped
    message = parse_message(record.body, resolve=_instance)
    if message is None:
        return
    config = clients.config()
    outcome = detect(
        clients.client("rds"),
        clients.table(),
        message,
        seal_after_s=config.seal_after_s,
        ttl_days=config.tracking_ttl_days,
        credentials=clients.session().get_credentials(),
    )
    metrics.add_metric(name=m.FILES_DETECTED, unit=MetricUnit.Count, value=outcome.new)
    metrics.add_metric(name=m.TABLE_WRITES, unit=MetricUnit.Count, value=outcome.writes)
    metrics.add_metric(name=m.RDS_CALLS, unit=MetricUnit.Count, value=outcome.rds_calls)
    if outcome.lost:
        metrics.add_metric(name=m.FILES_LOST, unit=MetricUnit.Count, value=len(outcome.lost))
    if outcome.unavailable:
        metrics.add_metric(name=m.INSTANCES_UNAVAILABLE, unit=MetricUnit.Count, value=1)
    if outcome.revived or outcome.conflicts:  # a file called gone came back / a name reused: look at it
        metrics.add_metric(
            name=m.IDENTITY_ANOMALIES,
            unit=MetricUnit.Count,
            value=len(outcome.revived) + len(outcome.conflicts),
        )
    logger.info("scan of instance", extra={"outcome": outcome.__dict__})


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
