"""Log Downloader (DynamoDB stream, partial batch response by sequence number): copy new bytes to S3."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from labkit.backup import metrics as m
from labkit.backup.downloader import Downloader
from labkit.handlers import clients

logger = Logger(service=m.SERVICES["downloader"])
metrics = Metrics(namespace=m.NAMESPACE, service=m.SERVICES["downloader"])
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_context: dict[str, Any] = {}


def _downloader() -> Downloader:
    config = clients.config()
    context = _context.get("lambda")
    return Downloader(
        rds=clients.client("rds"),
        s3=clients.client("s3"),
        table=clients.table(),
        credentials=clients.session().get_credentials(),
        bucket=config.names.bucket,
        prefix=config.log_prefix,
        lease_ms=(config.downloader_timeout_s + 60) * 1000,  # outlives the function's timeout
        remaining_ms=context.get_remaining_time_in_millis if context else (lambda: 900_000),
        reserve_ms=min(30_000, config.downloader_timeout_s * 200),
        max_failures=config.stream_max_retries + 1,
        ttl_days=config.tracking_ttl_days,
        on_failed=_count_failed,
        on_fallback=_count_fallback,
    )


def _count_failed(item: dict[str, Any]) -> None:
    metrics.add_metric(name=m.FILES_FAILED, unit=MetricUnit.Count, value=1)


def _count_fallback(item: dict[str, Any], code: str) -> None:
    metrics.add_metric(name=m.COMPLETE_DOWNLOAD_FALLBACKS, unit=MetricUnit.Count, value=1)


def record_handler(record: DynamoDBRecord) -> None:
    outcome = _downloader().handle_record(record.raw_event)
    if outcome.action == "copied":
        metrics.add_metric(name=m.BYTES_COPIED, unit=MetricUnit.Bytes, value=outcome.bytes_copied)
        if outcome.lag_ms is not None:
            metrics.add_metric(name=m.BACKUP_LAG, unit=MetricUnit.Milliseconds, value=outcome.lag_ms)
    elif outcome.action == "lost":
        metrics.add_metric(name=m.FILES_LOST, unit=MetricUnit.Count, value=1)
        if outcome.gap:
            metrics.add_metric(name=m.GAPS_RECORDED, unit=MetricUnit.Count, value=1)
    logger.info("record", extra={"outcome": outcome.__dict__})


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    _context["lambda"] = context
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
