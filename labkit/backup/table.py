"""The DynamoDB tracking table: one item per audit file ever detected.

Key: ``pk`` = DB instance id, ``sk`` = the file's identity (its name in the aurora scheme, where names are
stable; ``<base name>@<sha256 of its first line, 16 hex>`` in the rds-mysql scheme, where names shift at
rotation: see ``identity``; ``head_sha`` holds the whole hash).

States (``state``):
  DETECTED   seen by the detector, nothing copied yet
  COPYING    a downloader holds the lease (``lease_owner``/``lease_until``) and is copying
  PARTIAL    some bytes are in S3 (``copied_bytes``); the file may still grow
  BACKED_UP  every byte the file has is in S3 and the file is sealed (will not grow)
  LOST       the file vanished (retention, instance deleted) before all its bytes were copied
  FAILED     copying failed ``max_failures`` times in a row (stream retries + 1; the stream record went to the
             on-failure queue); a later successful copy (the file grew, or a redrive) clears it

Other attributes: cluster_id, engine, scheme, log_file_name (current name), size and last_written (as last
listed), sealed, copied_bytes, marker (DownloadDBLogFilePortion marker after copied_bytes, opaque; empty when
unknown), parts (S3 objects written), date (S3 partition), first_seen, updated_at, vanished_at,
lost_bytes, failures and last_error (failed copies since the last success), lease_owner and lease_until
(the copy in progress), expires_at (TTL, epoch seconds: set when the item can be forgotten), head_sha
(rds-mysql), writer (``detector``, ``downloader`` or ``downloader-continue``: who wrote last; the stream
filter passes the detector's and a time-cut copy's hand-over), marker_at (the source offset ``marker`` points
at, <= copied_bytes), failed_size and failed_owner (the size and stream record of the last failed copy: a
file stays FAILED, untried, until the detector lists new bytes).

A vanished file says how well its loss is known: ``lost_exact`` (true when the final size is known: it was
sealed, or a deletion event gave its size; false when ``lost_bytes`` is a lower bound, because the file
vanished while it could still grow), ``final_size`` (from a deletion event), ``unseen`` (an item made from a
deletion event for a file no listing ever showed) and ``deletion_event`` (the event tied to it, once).
BACKED_UP means sealed (or of known final size) and complete, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

PARTITION_KEY, SORT_KEY = "pk", "sk"  # the key schema, shared by the local deploy and the Pulumi stack
TTL_ATTRIBUTE = "expires_at"
# A sparse index of the files still on their instance: ``live_pk`` (= pk) is set when a file is detected and
# removed when it vanishes, so a scan reads only live files, not the history kept until the TTL.
LIVE_INDEX, LIVE_KEY = "live-files", "live_pk"

DETECTED, COPYING, PARTIAL, BACKED_UP, LOST, FAILED = (
    "DETECTED",
    "COPYING",
    "PARTIAL",
    "BACKED_UP",
    "LOST",
    "FAILED",
)
STATES = (DETECTED, COPYING, PARTIAL, BACKED_UP, LOST, FAILED)


def conditional(write: Callable[..., Any], **request: Any) -> bool:
    """One conditional put_item/update_item; False when its condition did not hold (another writer or a
    newer state won), any other error raised."""
    try:
        write(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def now_ms() -> int:
    return int(time.time() * 1000)


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """boto3's resource layer returns Decimals: turn whole numbers back into ints."""
    return {k: (int(v) if isinstance(v, Decimal) and v == int(v) else v) for k, v in item.items()}


def _paged(call: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a Query or Scan, following LastEvaluatedKey."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def instance_items(table: Any, instance_id: str) -> list[dict[str, Any]]:
    """Every tracked file of one instance (strongly consistent, paged)."""
    return _paged(
        table.query,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": instance_id},
        ConsistentRead=True,
    )


def live_items(table: Any, instance_id: str) -> list[dict[str, Any]]:
    """The instance's files not yet seen to vanish, from the sparse index (eventually consistent: a scan
    that reads a stale item fails its conditional write and the next scan catches up)."""
    return _paged(
        table.query,
        IndexName=LIVE_INDEX,
        KeyConditionExpression=f"{LIVE_KEY} = :pk",
        ExpressionAttributeValues={":pk": instance_id},
    )


def table_definition(name: str, stream_view_type: str = "NEW_AND_OLD_IMAGES") -> dict[str, Any]:
    """CreateTable arguments for the tracking table (the Pulumi stack declares the same)."""
    return {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": key, "AttributeType": "S"} for key in (PARTITION_KEY, SORT_KEY, LIVE_KEY)
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": LIVE_INDEX,
                "KeySchema": [
                    {"AttributeName": LIVE_KEY, "KeyType": "HASH"},
                    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream_view_type},
        "SSESpecification": {"Enabled": True},
    }


def all_items(table: Any, include_gaps: bool = False) -> list[dict[str, Any]]:
    """Every file item (paged); the gap records (``pk`` "gap#...", see ``gaps``) only when asked."""
    items = _paged(table.scan, ConsistentRead=True)
    return items if include_gaps else [i for i in items if not str(i.get("pk", "")).startswith("gap#")]


def get_item(table: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item = table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
    return plain(item) if item else None
