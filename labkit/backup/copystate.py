"""The downloader's writes to the tracking table: lease, commit, release, hand on, settle, lost.

Each is conditional on what the copy read, so a stale copier can never move ``copied_bytes``, and each names
its writer (``writer = "downloader"``, or ``"downloader-continue"`` for a commit that hands unfinished work to
the next invocation): the stream's filter criteria (:mod:`labkit.backup.streamfilter`) let only the
detector's writes and that hand-over wake the downloader again.
"""

from __future__ import annotations

import logging
from typing import Any

from labkit.backup import table as t
from labkit.backup.streamfilter import CONTINUE_WRITER, DOWNLOADER_WRITER

log = logging.getLogger("labkit.backup.downloader")
_WRITER = {"#w": "writer"}


def take_lease(table: Any, item: dict[str, Any], owner: str, lease_ms: int) -> bool:
    """COPYING by ``owner`` until now + lease_ms, unless another live lease holds it or bytes moved."""
    now = t.now_ms()
    return t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #state = :copying, lease_owner = :me, lease_until = :until, #w = :w",
        ConditionExpression=(
            "copied_bytes = :copied AND attribute_not_exists(vanished_at) AND "
            "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)"
        ),
        ExpressionAttributeNames={"#state": "state", **_WRITER},
        ExpressionAttributeValues={
            ":copying": t.COPYING,
            ":me": owner,
            ":until": now + lease_ms,
            ":copied": item["copied_bytes"],
            ":now": now,
            ":w": DOWNLOADER_WRITER,
        },
    )


def commit(
    table: Any,
    item: dict[str, Any],
    owner: str,
    end: int,
    marker: str,
    marker_at: int,
    parts: int,
    more: bool,
) -> None:
    """Move copied_bytes to ``end`` (never past the listed size: the condition says so) and give the lease
    back. ``more``: the copy stopped for time with bytes left; this write wakes the next invocation. So does
    a copy that read the file unsealed (and so held back its partial last line) when it is sealed by now:
    the seal's own record may have met this copy's lease and run out of retries, and nothing else would
    wake a copy of that line."""
    fresh = t.get_item(table, item["pk"], item["sk"]) or item
    done = bool(fresh.get("sealed")) and end >= fresh["size"]
    more = more or (bool(fresh.get("sealed")) and not item.get("sealed") and end < fresh["size"])
    table.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression=(
            "SET copied_bytes = :end, marker = :marker, marker_at = :at, parts = :parts, #state = :state, "
            "updated_at = :now, failures = :zero, #w = :w "
            "REMOVE lease_owner, lease_until, last_error, failed_size, failed_owner"
        ),
        ConditionExpression="copied_bytes = :copied AND lease_owner = :me AND #size >= :end",
        ExpressionAttributeNames={"#state": "state", "#size": "size", **_WRITER},
        ExpressionAttributeValues={
            ":end": end,
            ":marker": marker,
            ":at": marker_at,
            ":parts": parts,
            ":state": t.BACKED_UP if done else t.PARTIAL,
            ":now": t.now_ms(),
            ":copied": item["copied_bytes"],
            ":me": owner,
            ":zero": 0,
            ":w": CONTINUE_WRITER if more else DOWNLOADER_WRITER,
        },
    )


def release(
    table: Any, item: dict[str, Any], owner: str, held: bool, failure: str, max_failures: int
) -> bool:
    """Give the lease back (when ``held``); a failed copy is counted, and after ``max_failures`` failures on
    the same bytes the file is FAILED (``failed_owner``: the record that failed last). True when this call
    made the file FAILED."""
    if not failure and not held:
        return False  # nothing was written, nothing to undo
    same_bytes = item.get("failed_size") == item["size"]
    failures = (int(item.get("failures", 0)) if same_bytes else 0) + (1 if failure else 0)
    state = t.PARTIAL if item["copied_bytes"] else t.DETECTED
    if failure and failures >= max_failures:
        state = t.FAILED
        log.error("copy of %s %s failed %d times: %s", item["pk"], item["sk"], failures, failure)
    values: dict[str, Any] = {":state": state, ":me": owner, ":w": DOWNLOADER_WRITER}
    update = "SET #state = :state, #w = :w"
    if failure:
        update += ", failures = :failures, last_error = :error, failed_size = :size, failed_owner = :me"
        values.update({":failures": failures, ":error": failure[:500], ":size": item["size"]})
    condition = "lease_owner = :me"
    if not held:  # failed before the first byte: count it unless another copy holds the lease
        condition = (
            "copied_bytes = :copied AND attribute_not_exists(vanished_at) AND "
            "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)"
        )
        values.update({":copied": item["copied_bytes"], ":now": t.now_ms()})
    written = t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression=update + (" REMOVE lease_owner, lease_until" if held else ""),
        ConditionExpression=condition,
        ExpressionAttributeNames={"#state": "state", **_WRITER},
        ExpressionAttributeValues=values,
    )
    return written and state == t.FAILED


def hand_on(table: Any, item: dict[str, Any], owner: str, held: bool) -> bool:
    """Throttled (RDS's answer, or the pipeline's budget stayed spent) before a byte was copied: give the
    lease back, count no failure, and wake the next invocation (``writer`` = continue; ``updated_at`` changes,
    so DynamoDB writes a stream record even though nothing else did). False when another copy holds the file
    or its bytes moved meanwhile: that copy carries on instead."""
    condition = "lease_owner = :me"
    values: dict[str, Any] = {
        ":state": t.PARTIAL if item["copied_bytes"] else t.DETECTED,
        ":me": owner,
        ":w": CONTINUE_WRITER,
        ":now": t.now_ms(),
    }
    if not held:
        condition = (
            "copied_bytes = :copied AND attribute_not_exists(vanished_at) AND "
            "(attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me)"
        )
        values[":copied"] = item["copied_bytes"]
    return t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #state = :state, #w = :w, updated_at = :now"
        + (" REMOVE lease_owner, lease_until" if held else ""),
        ConditionExpression=condition,
        ExpressionAttributeNames={"#state": "state", **_WRITER},
        ExpressionAttributeValues=values,
    )


def settle(table: Any, item: dict[str, Any]) -> None:
    """A sealed file with every byte copied becomes BACKED_UP."""
    t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #state = :done, #w = :w",
        ConditionExpression="copied_bytes = :copied AND attribute_not_exists(lease_owner)",
        ExpressionAttributeNames={"#state": "state", **_WRITER},
        ExpressionAttributeValues={
            ":done": t.BACKED_UP,
            ":copied": item["copied_bytes"],
            ":w": DOWNLOADER_WRITER,
        },
    )


def mark_lost(table: Any, item: dict[str, Any], owner: str, ttl_days: int) -> bool:
    """The file is gone before every byte was copied: LOST, with lost_bytes, expiring like the detector's
    vanished items. An unsealed file may have grown since its last listing: its lost_bytes are a lower
    bound (``lost_exact`` false). False when another copy or the detector decided first."""
    now = t.now_ms()
    return t.conditional(
        table.update_item,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression=(
            "SET #state = :lost, lost_bytes = :missing, lost_exact = :exact, vanished_at = :now, "
            "updated_at = :now, "
            f"{t.TTL_ATTRIBUTE} = :expires, #w = :w REMOVE lease_owner, lease_until, {t.LIVE_KEY}"
        ),
        ConditionExpression=(
            "copied_bytes = :copied AND attribute_not_exists(vanished_at) AND "
            "(lease_owner = :me OR attribute_not_exists(lease_until) OR lease_until < :now)"
        ),
        ExpressionAttributeNames={"#state": "state", **_WRITER},
        ExpressionAttributeValues={
            ":lost": t.LOST,
            ":missing": item["size"] - item["copied_bytes"],
            ":exact": bool(item.get("sealed")),
            ":now": now,
            ":expires": now // 1000 + ttl_days * 86400,
            ":copied": item["copied_bytes"],
            ":me": owner,
            ":w": DOWNLOADER_WRITER,
        },
    )


def gave_up(item: dict[str, Any], owner: str) -> bool:
    """FAILED by this very record on these very bytes: a stream retry of it (or a bisected batch holding it)
    must not try again. A new record (the detector saw new bytes) or a redrive under another id does."""
    return (
        item["state"] == t.FAILED
        and item.get("failed_owner") == owner
        and item.get("failed_size") == item["size"]
    )
