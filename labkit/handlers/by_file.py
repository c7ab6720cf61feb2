"""A stream batch copied per file: records of different files at once (bounded), one file's in order.

Powertools' ``BatchProcessor`` handles a batch's records one after another, so one slow file (a paged copy
runs at ~0.6 MB/s on AWS) holds up every other file of its batch. Here the records are grouped by item key
(one audit file), the groups run on at most ``concurrency`` threads, and each group runs in sequence order.
Per file order is also kept on failure: when a record fails, the file's later records in the batch are not
attempted and are reported failed with it, so Lambda retries them from the lowest failed sequence number,
in order. The partial batch response and the whole-batch failure are powertools' own
(``batchItemFailures`` by SequenceNumber; ``BatchProcessingError`` when every record failed).

Files start oldest first (by the item's ``last_written``): under pressure (a spent RDS budget, more files
than threads) the bytes nearest to deletion, which RDS removes oldest first, are copied first.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError, ExceptionInfo
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from labkit.backup.streamfilter import item_key

log = logging.getLogger("labkit.handlers")

RecordHandler = Callable[[DynamoDBRecord], Any]


def process_by_file(event: dict[str, Any], record_handler: RecordHandler, concurrency: int) -> dict[str, Any]:
    """Run ``record_handler`` over the event's records, files at once, each file's records in order."""
    records: list[dict[str, Any]] = list(event.get("Records") or [])
    files: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        files.setdefault(item_key(record), []).append(record)
    failed: set[str] = set()
    errors: list[ExceptionInfo] = []
    lock = threading.Lock()

    def copy_file(group: list[dict[str, Any]]) -> None:
        for n, record in enumerate(group):
            try:
                record_handler(DynamoDBRecord(record))
            except Exception as exc:
                log.warning("record %s failed: %r", _seq(record), exc, exc_info=True)
                with lock:
                    failed.update(_seq(r) for r in group[n:])  # the file's later records wait for it
                    errors.append(sys.exc_info())
                return

    groups = sorted(files.values(), key=_oldest_write)  # stable: batch order among equals
    workers = max(1, min(concurrency, len(groups)))
    if workers == 1:
        for group in groups:
            copy_file(group)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy-file") as pool:
            list(pool.map(copy_file, groups))
    if records and len(failed) == len(records):
        raise BatchProcessingError(
            msg=f"All records failed processing. {len(errors)} individual errors logged separately below.",
            child_exceptions=errors,
        )
    return {"batchItemFailures": [{"itemIdentifier": _seq(r)} for r in records if _seq(r) in failed]}


def _oldest_write(group: list[dict[str, Any]]) -> float:
    """The file's last write as its records' new images say (ms); unknown (a REMOVE, no image) sorts last."""
    written = [
        float(r["dynamodb"]["NewImage"]["last_written"]["N"])
        for r in group
        if "N" in r.get("dynamodb", {}).get("NewImage", {}).get("last_written", {})
    ]
    return min(written, default=float("inf"))


def _seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])
