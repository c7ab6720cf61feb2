"""The backup state as pandas frames: one row per tracked file (DynamoDB), one row per part (S3).

``backup_state``/``backup_parts`` read the config's target; ``state_frame``/``parts_frame`` build the same
frames from items and listings already in hand, so charts and tests need no AWS at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.backup.manifest import part_objects
from labkit.config import LabConfig
from labkit.dashboard.errors import BackupStoreError
from labkit.dashboard.risk import loss_risk_table

STATE_COLUMNS = [
    "instance_id",
    "cluster_id",
    "file_id",
    "log_file_name",
    "scheme",
    "engine",
    "state",
    "size",
    "copied_bytes",
    "pending_bytes",
    "sealed",
    "last_written",
    "first_seen",
    "updated_at",
    "vanished_at",
    "lost_bytes",
    "lost_exact",
    "parts",
    "date",
    "failures",
    "last_error",
    "lag_s",
]
PART_COLUMNS = [
    "instance_id",
    "cluster_id",
    "date",
    "file_id",
    "key",
    "part",
    "source_start",
    "source_end",
    "source_bytes",
    "compressed_bytes",
    "last_modified",
    "source_last_written",
]
_TIMES_MS = ("last_written", "first_seen", "updated_at", "vanished_at")


def backup_state(config: LabConfig, now: datetime | None = None) -> pd.DataFrame:
    """Every file the tracking table knows, as of ``now`` (default: the current time)."""
    table = aws.table(config)
    try:
        items = t.all_items(table)
    except ClientError as exc:
        raise BackupStoreError(
            f"cannot read the tracking table {config.names.table} on the {config.target} target "
            f"({exc.response['Error']['Code']}): deploy the lab stack first, or check the region and credentials"
        ) from exc
    return state_frame(items, now)


def state_frame(items: Iterable[dict[str, Any]], now: datetime | None = None) -> pd.DataFrame:
    """Tracking-table items (as ``labkit.backup.table`` returns them) -> one row per file.

    ``pending_bytes``: bytes of a file still on the instance that are not in S3 yet (0 once it vanished:
    those are ``lost_bytes``). ``lag_s``: for a file with pending bytes, how long ago it was last written;
    otherwise how long after its last write the backup caught up.
    """
    rows = [
        {
            "instance_id": i["pk"],
            "cluster_id": i.get("cluster_id", ""),
            "file_id": i["sk"],
            "log_file_name": i.get("log_file_name", i["sk"]),
            "scheme": i.get("scheme", ""),
            "engine": i.get("engine", ""),
            "state": i.get("state", ""),
            "size": int(i.get("size", 0)),
            "copied_bytes": int(i.get("copied_bytes", 0)),
            "sealed": bool(i.get("sealed", False)),
            "last_written": i.get("last_written"),
            "first_seen": i.get("first_seen"),
            "updated_at": i.get("updated_at"),
            "vanished_at": i.get("vanished_at"),
            "lost_bytes": int(i.get("lost_bytes", 0)),
            "lost_exact": bool(i.get("lost_exact", True)),
            "parts": int(i.get("parts", 0)),
            "date": i.get("date", ""),
            "failures": int(i.get("failures", 0)),
            "last_error": i.get("last_error", ""),
        }
        for i in items
    ]
    frame = pd.DataFrame(rows, columns=[c for c in STATE_COLUMNS if c not in ("pending_bytes", "lag_s")])
    for column in ("size", "copied_bytes", "lost_bytes", "parts", "failures"):
        frame[column] = frame[column].astype("int64")
    frame["sealed"] = frame["sealed"].astype(bool)
    frame["lost_exact"] = frame["lost_exact"].astype(bool)
    for column in _TIMES_MS:
        frame[column] = pd.to_datetime(pd.to_numeric(frame[column]), unit="ms", utc=True)
    live = frame["vanished_at"].isna() & (frame["state"] != t.LOST)
    frame["pending_bytes"] = (
        (frame["size"] - frame["copied_bytes"]).clip(lower=0).where(live, 0).astype("int64")
    )
    stamp = _utc(now)
    since_write = (stamp - frame["last_written"]).dt.total_seconds()
    caught_up_after = (frame["updated_at"] - frame["last_written"]).dt.total_seconds()
    frame["lag_s"] = (
        since_write.where(frame["pending_bytes"] > 0, caught_up_after).clip(lower=0).astype(float)
    )
    return frame[STATE_COLUMNS].sort_values(["instance_id", "first_seen", "file_id"], ignore_index=True)


def backup_parts(config: LabConfig, *, workers: int = 8) -> pd.DataFrame:
    """Every part object under the config's prefix, with the source range and size its metadata records."""
    s3 = aws.client("s3", config)
    bucket = config.names.bucket
    try:
        listed = list(list_part_objects(s3, bucket, f"{config.log_prefix}/"))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            heads = list(pool.map(lambda obj: s3.head_object(Bucket=bucket, Key=obj["Key"]), listed))
    except ClientError as exc:
        raise BackupStoreError(
            f"cannot read the backup bucket {bucket} on the {config.target} target "
            f"({exc.response['Error']['Code']}): deploy the lab stack first, or check the region and credentials"
        ) from exc
    return parts_frame((obj, head.get("Metadata", {})) for obj, head in zip(listed, heads, strict=True))


def parse_part_key(key: str) -> dict[str, Any] | None:
    """``.../cluster=<c>/instance=<i>/date=<d>/<file>.part-00001.gz`` -> its fields (None: not a part)."""
    ref = PartKey.parse(key)
    if ref is None:
        return None
    return {
        "cluster_id": ref.file.cluster_id,
        "instance_id": ref.file.instance_id,
        "date": ref.file.date,
        "file_id": ref.file.file_id,
        "part": ref.part,
    }


def parts_frame(objects: Iterable[tuple[dict[str, Any], dict[str, str]]]) -> pd.DataFrame:
    """(list_objects_v2 entry, object metadata) pairs -> one row per part; keys that are not parts are skipped."""
    rows = []
    for obj, meta in objects:
        fields = parse_part_key(obj["Key"])
        if fields is None:
            continue
        start, end = int(meta.get("source-start", -1)), int(meta.get("source-end", -1))
        known = 0 <= start <= end
        rows.append(
            {
                **fields,
                "key": obj["Key"],
                "source_start": start if known else None,
                "source_end": end if known else None,
                "source_bytes": end - start if known else None,
                "compressed_bytes": int(obj.get("Size", 0)),
                "last_modified": obj.get("LastModified"),
                "source_last_written": meta.get("source-last-written"),
            }
        )
    frame = pd.DataFrame(rows, columns=PART_COLUMNS)
    for column in ("source_start", "source_end", "source_bytes"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    frame["part"] = frame["part"].astype("int64")
    frame["compressed_bytes"] = frame["compressed_bytes"].astype("int64")
    frame["last_modified"] = pd.to_datetime(frame["last_modified"], utc=True)
    frame["source_last_written"] = pd.to_datetime(
        pd.to_numeric(frame["source_last_written"]), unit="ms", utc=True
    )
    return frame.sort_values(["instance_id", "file_id", "part"], ignore_index=True)


def list_part_objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    return (obj for obj, _ in part_objects(s3, bucket, prefix))


def _utc(now: datetime | None) -> pd.Timestamp:
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


__all__ = [
    "PART_COLUMNS",
    "STATE_COLUMNS",
    "backup_parts",
    "backup_state",
    "loss_risk_table",
    "parse_part_key",
    "parts_frame",
    "state_frame",
]


GAP_COLUMNS = [
    "instance_id",
    "gap",
    "from",
    "to",
    "files",
    "known_lost_bytes",
    "events",
    "acknowledged",
    "reason",
]


def gap_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Gap records (labkit.backup.gaps) -> one row per window in which files may have come and gone unseen."""
    rows = [
        {
            "instance_id": g["instance_id"],
            "gap": g["sk"],
            "from": g["from_ms"],
            "to": g["to_ms"],
            "files": ", ".join(str(f) for f in g.get("files", [])),
            "known_lost_bytes": int(g.get("known_lost_bytes", 0)),
            "events": len(g.get("events", [])),
            "acknowledged": "acknowledged_at" in g,
            "reason": g.get("reason", ""),
        }
        for g in records
    ]
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    for column in ("from", "to"):
        frame[column] = pd.to_datetime(pd.to_numeric(frame[column]), unit="ms", utc=True)
    frame["known_lost_bytes"] = frame["known_lost_bytes"].astype("int64")
    return frame.sort_values(["instance_id", "from"], ignore_index=True)


def backup_gaps(config: LabConfig) -> pd.DataFrame:
    """Every recorded gap of the config's target."""
    from labkit.backup import gaps

    table = aws.table(config)
    try:
        return gap_frame(gaps.all_gaps(table))
    except ClientError as exc:
        raise BackupStoreError(
            f"cannot read the tracking table {config.names.table} ({exc.response['Error']['Code']}): "
            "deploy the lab stack first"
        ) from exc
