"""Log Downloader (DynamoDB stream, partial batch response by sequence number): copy new bytes to S3.

A batch's files are copied at once, up to ``downloader_copy_concurrency``, each file's records in order
(:mod:`labkit.handlers.by_file`); what they count goes to the invocation's Tally (appends are atomic)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from labkit.backup import metrics as m
from labkit.backup.downloader import CopyOutcome, Downloader
from labkit.handlers import clients
from labkit.handlers.by_file import process_by_file
from labkit.handlers.invocation import Tally, publish

logger = Logger(service=m.SERVICES["downloader"])
metrics = Metrics(namespace=m.NAMESPACE, service=m.SERVICES["downloader"])


def downloader(context: Any, tally: Tally) -> Downloader:
    """The copier for one invocation: its time left is the invocation's, what it counts goes to ``tally``."""
    config = clients.config()
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
        complete=clients.complete_download(),
        **callbacks(tally),
    )


def callbacks(tally: Tally) -> dict[str, Any]:
    """The Downloader's hooks that count into ``tally``: a file just became FAILED; a refused complete
    download made it page the file instead."""
    return {
        "on_failed": lambda item: tally.count(m.FILES_FAILED),
        "on_fallback": lambda item, code: tally.count(m.COMPLETE_DOWNLOAD_FALLBACKS),
    }


def count(outcome: CopyOutcome, tally: Tally) -> None:
    if outcome.action == "copied":
        tally.add(m.BYTES_COPIED, MetricUnit.Bytes, outcome.bytes_copied)
        if outcome.lag_ms is not None:
            tally.add(m.BACKUP_LAG, MetricUnit.Milliseconds, outcome.lag_ms)
    elif outcome.action == "throttled":
        tally.count(m.THROTTLED)
    elif outcome.action == "lost":
        tally.count(m.FILES_LOST)
        if outcome.gap:
            tally.count(m.GAPS_RECORDED)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    tally = Tally()

    def record_handler(record: DynamoDBRecord) -> None:
        outcome = downloader(context, tally).handle_record(record.raw_event)
        count(outcome, tally)
        logger.info("record", extra={"outcome": outcome.__dict__})

    try:
        return process_by_file(event, record_handler, clients.config().downloader_copy_concurrency)
    finally:
        publish(metrics, tally)
