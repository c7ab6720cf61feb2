"""Gaps: time windows of an instance in which audit files may have come and gone without any look seeing them.

A look lists an instance's files; a file born and deleted between two looks leaves no trace in a listing.
That cannot be ruled out when a look finds gone a file whose end was not known (it vanished unsealed, so
files after it may have been written and deleted too), or the youngest file known (every file now listed is
newer than anything seen, so any number may have lived in between). RDS for MySQL's defaults (1 MB x 9 files)
keep seconds of history on a busy instance, so this is no corner case.

A gap is recorded, never inferred away: it names its instance, its window (from the last write the look before
saw to this look), the files that vanished with it and the bytes known lost (a lower bound: "unknown" for the
rest), plus any deletion events that fell into it but could not be tied to one file. It stays until an
operator acknowledges it (``labkit gaps --ack``); until then ``labkit verify`` fails.

Gap items live in the tracking table under ``pk = "gap#<instance>"``: no file item has that key, a query for
the instance's files never meets them, and they carry no ``live_pk`` (not in the live index) and a writer the
downloader's stream filter does not pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from labkit.backup import table as t

log = logging.getLogger(__name__)
GAP_PK_PREFIX = "gap#"
EVIDENCE_WRITER = "detector-evidence"  # gap and evidence writes: nothing for the downloader to copy
GAP_STATE = "GAP"


def gap_pk(instance_id: str) -> str:
    return f"{GAP_PK_PREFIX}{instance_id}"


def is_gap(item: dict[str, Any]) -> bool:
    return str(item.get("pk", "")).startswith(GAP_PK_PREFIX)


def record(
    table: Any,
    instance_id: str,
    *,
    from_ms: int,
    to_ms: int,
    trigger: dict[str, Any],
    reason: str,
    ttl_days: int,
) -> str:
    """Record the gap that ``trigger`` (the vanished item) opens; its key is the trigger's (a file vanishes
    once), so a scan that runs twice, or the detector and a downloader that both find the file gone, each
    from its own read of the item, record it once. Returns the gap's key (sk)."""
    sk = str(trigger["sk"])
    known = max(0, int(trigger["size"]) - int(trigger["copied_bytes"]))
    written = t.conditional(
        table.put_item,
        Item={
            "pk": gap_pk(instance_id),
            "sk": sk,
            "instance_id": instance_id,
            "state": GAP_STATE,
            "from_ms": int(from_ms),
            "to_ms": int(to_ms),
            "files": [str(trigger["sk"])],
            "known_lost_bytes": known,
            "reason": reason,
            "events": [],
            "created_at": int(to_ms),
            t.TTL_ATTRIBUTE: int(to_ms // 1000 + ttl_days * 86400),
            "writer": EVIDENCE_WRITER,
        },
        ConditionExpression="attribute_not_exists(sk)",
    )
    if written:
        log.error(
            "GAP on %s from %d to %d ms: audit files may have been created and deleted unseen (%s); "
            "at least %d bytes lost, the rest unknown",
            instance_id,
            from_ms,
            to_ms,
            reason,
            known,
        )
    return sk


def gaps(table: Any, instance_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every recorded gap of these instances (strongly consistent)."""
    found: list[dict[str, Any]] = []
    for instance_id in instance_ids:
        found.extend(t.instance_items(table, gap_pk(instance_id)))
    return found


def all_gaps(table: Any) -> list[dict[str, Any]]:
    """Every recorded gap in the table (one scan, filtered)."""
    return files_and_gaps(table)[1]


def files_and_gaps(table: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every file item and every recorded gap, from one scan of the table."""
    items = t.all_items(table, include_gaps=True)
    return [i for i in items if not is_gap(i)], [i for i in items if is_gap(i)]


def containing(table: Any, instance_id: str, at_ms: int) -> dict[str, Any] | None:
    """The gap of this instance whose window holds ``at_ms`` (the latest such), or None."""
    inside = [g for g in gaps(table, [instance_id]) if int(g["from_ms"]) <= at_ms <= int(g["to_ms"])]
    return max(inside, key=lambda g: int(g["from_ms"])) if inside else None


def add_event(table: Any, gap: dict[str, Any], event_key: str) -> bool:
    """Note a deletion event inside the gap that no single file could be tied to (once per event)."""
    if event_key in gap.get("events", []):
        return False
    return t.conditional(
        table.update_item,
        Key={"pk": gap["pk"], "sk": gap["sk"]},
        UpdateExpression="SET events = list_append(events, :e)",
        ConditionExpression="NOT contains(events, :k)",
        ExpressionAttributeValues={":e": [event_key], ":k": event_key},
    )


def acknowledge(table: Any, gap: dict[str, Any], by: str, note: str, now_ms: int) -> bool:
    """An operator has looked at the gap: it is still reported, no longer a failure."""
    return t.conditional(
        table.update_item,
        Key={"pk": gap["pk"], "sk": gap["sk"]},
        UpdateExpression="SET acknowledged_at = :now, acknowledged_by = :by, ack_note = :note",
        ConditionExpression="attribute_exists(sk) AND attribute_not_exists(acknowledged_at)",
        ExpressionAttributeValues={":now": now_ms, ":by": by, ":note": note},
    )


def event_bytes(gap: dict[str, Any]) -> int:
    """Bytes the deletion events noted on the gap say were deleted (``name|size|at|message`` keys)."""
    total = 0
    for key in gap.get("events", []):
        size = str(key).split("|")[1] if str(key).count("|") >= 2 else ""
        total += int(size) if size.isdigit() else 0
    return total
