"""The backup's state in figures, without pandas: what ``labkit status`` and ``labkit scan`` print, and
the one definition of the summary the workbook shows too (:func:`summarize`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup import gaps, manifest
from labkit.backup import table as t
from labkit.backup.sizing import HistoryPolicy, history_rows
from labkit.config import LabConfig
from labkit.errors import LabkitError


def items(config: LabConfig) -> list[dict[str, Any]]:
    """Every file item of the tracking table (gaps left out)."""
    return gaps.files_and_gaps(aws.table(config))[0]


def pending_bytes(item: Mapping[str, Any]) -> int:
    """Bytes of a file still on the instance that are not in S3 yet (0 once it vanished: those are lost)."""
    if "vanished_at" in item or item.get("state") == t.LOST:
        return 0
    return max(0, int(item.get("size", 0)) - int(item.get("copied_bytes", 0)))


def file_rows(found: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The fields :func:`summarize` reads, per tracking item (the dashboard's state table has them too)."""
    return [
        {
            "state": i.get("state", ""),
            "copied_bytes": int(i.get("copied_bytes", 0)),
            "lost_bytes": int(i.get("lost_bytes", 0)),
            "lost_exact": bool(i.get("lost_exact", True)),
            "pending_bytes": pending_bytes(i),
        }
        for i in found
    ]


def summarize(files: Iterable[Mapping[str, Any]], parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures a run is judged by: files backed up, bytes in S3, LOST files and bytes."""
    files, parts = list(files), list(parts)

    def count(state: str) -> int:
        return sum(1 for f in files if f["state"] == state)

    return {
        "files": len(files),
        "files_backed_up": count(t.BACKED_UP),
        "files_lost": count(t.LOST),
        "files_failed": count(t.FAILED),
        "bytes_backed_up": int(sum(f["copied_bytes"] for f in files)),
        "bytes_lost": int(sum(f["lost_bytes"] for f in files)),
        "files_lost_lower_bound": sum(1 for f in files if f["state"] == t.LOST and not f["lost_exact"]),
        "bytes_pending": int(sum(f["pending_bytes"] for f in files)),
        "parts": len(parts),
        "compressed_bytes": int(sum(p["compressed_bytes"] for p in parts)),
    }


def parts(config: LabConfig) -> list[dict[str, Any]]:
    """Every part object under the backup prefix: its key and compressed size (one listing, no HEADs)."""
    bucket = config.names.bucket
    try:
        listed = manifest.part_objects(aws.client("s3", config), bucket, config.log_prefix)
        return [{"key": obj["Key"], "compressed_bytes": int(obj.get("Size", 0))} for obj, _ in listed]
    except ClientError as exc:
        raise LabkitError(
            f"cannot read the backup bucket {bucket} on the {config.target} target "
            f"({exc.response['Error']['Code']}): deploy first, or check the region and credentials"
        ) from exc


def summary(config: LabConfig) -> dict[str, Any]:
    return summarize(file_rows(items(config)), parts(config))


def progress_row(config: LabConfig, rounds: int, seconds: float) -> dict[str, Any]:
    """Files per state and bytes copied: what a scan's wait reports."""
    found = items(config)
    row: dict[str, Any] = {"scans": rounds, "seconds": round(seconds, 1), "files": len(found)}
    row.update({state: sum(1 for i in found if i["state"] == state) for state in t.STATES})
    row["bytes backed up"] = sum(int(i.get("copied_bytes", 0)) for i in found)
    return row


def history(config: LabConfig) -> list[dict[str, Any]]:
    """Per instance: whether its kept audit history covers enough scan periods (labkit.backup.sizing)."""
    return history_rows(items(config), HistoryPolicy.for_lab(config))
