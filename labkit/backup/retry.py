"""An operator's redrive: try FAILED files again.

A file whose copy failed ``max_failures`` times is FAILED and, by design, is not tried again until the
detector lists new bytes (a file that always fails must not keep the stream busy). A sealed file never gets
new bytes, so once the cause is fixed (permissions, an endpoint, a file the portion API refused) someone has
to say "try again": this write looks like the detector's (``writer = detector``), so the stream's filter
passes it and the downloader copies the file from where it stopped.
"""

from __future__ import annotations

import logging
from typing import Any

from labkit.backup import table as t
from labkit.backup.streamfilter import DETECTOR_WRITER

log = logging.getLogger(__name__)


def retry_failed(table: Any, instance_ids: list[str] | None = None) -> list[tuple[str, str]]:
    """Every FAILED file (of the given instances, or all) is made DETECTED/PARTIAL again; returns them."""
    items = (
        [i for instance in instance_ids for i in t.instance_items(table, instance)]
        if instance_ids
        else t.all_items(table)
    )
    retried = []
    for item in items:
        if item["state"] != t.FAILED or "vanished_at" in item:
            continue
        if not t.conditional(
            table.update_item,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=(
                "SET #state = :state, failures = :zero, writer = :writer, updated_at = :now "
                "REMOVE failed_size, failed_owner"
            ),
            ConditionExpression="#state = :failed AND copied_bytes = :copied",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": t.PARTIAL if item["copied_bytes"] else t.DETECTED,
                ":zero": 0,
                ":writer": DETECTOR_WRITER,
                ":now": t.now_ms(),
                ":failed": t.FAILED,
                ":copied": item["copied_bytes"],
            },
        ):
            continue  # it changed meanwhile: not FAILED any more
        log.info("retrying %s %s (last error: %s)", item["pk"], item["sk"], item.get("last_error", ""))
        retried.append((str(item["pk"]), str(item["sk"])))
    return retried
