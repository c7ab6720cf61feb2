"""Log Detector: compare an instance's audit files with the tracking table and write only what changed.

New file -> a DETECTED item; a file that grew or moved -> its size/LastWritten/name; a file now sealed ->
``sealed``; a file gone -> ``vanished_at``, and LOST if not every byte was copied. An idle scan writes nothing.
Writes are conditional on what was read, so two overlapping scans cannot undo each other.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup import table as t
from labkit.backup.errors import BadInputError
from labkit.backup.layout import check_identifier
from labkit.backup.rdslogs import list_log_files
from labkit.backup.scanner import InstanceMessage

log = logging.getLogger(__name__)
_POSITION = re.compile(r"\.(\d+)$")
SCHEMES = ("aurora", "rds-mysql")


@dataclass
class DetectOutcome:
    instance_id: str
    new: int = 0
    changed: int = 0
    sealed: int = 0
    vanished: int = 0
    lost: list[str] = field(default_factory=list)
    writes: int = 0
    instance_gone: bool = False


def parse_message(body: str) -> InstanceMessage:
    """A scanner message, or BadInputError (the message belongs in the DLQ)."""
    try:
        raw = json.loads(body)
        message = InstanceMessage(
            instance_id=check_identifier(raw["instance_id"], "instance id"),
            cluster_id=str(raw.get("cluster_id") or ""),
            engine=str(raw.get("engine") or ""),
            scheme=str(raw.get("scheme") or "aurora"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"malformed scanner message {body[:200]!r}: {exc}") from exc
    if message.cluster_id:
        check_identifier(message.cluster_id, "cluster id")
    if message.scheme not in SCHEMES:
        raise BadInputError(f"unknown naming scheme {message.scheme!r} in {body[:200]!r}")
    return message


def position(name: str) -> int:
    """rds-mysql: 0 for the active server_audit.log, N for server_audit.log.N."""
    match = _POSITION.search(name)
    return int(match.group(1)) if match else 0


def detect(
    rds: Any,
    table: Any,
    message: InstanceMessage,
    *,
    seal_after_s: float,
    ttl_days: int,
    now: float | None = None,
) -> DetectOutcome:
    now = time.time() if now is None else now
    outcome = DetectOutcome(message.instance_id)
    try:
        listed = list_log_files(rds, message.instance_id)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            raise
        outcome.instance_gone = True
        listed = []
    items = [i for i in t.live_items(table, message.instance_id) if "vanished_at" not in i]
    if message.scheme == "aurora":
        by_sk = {i["sk"]: i for i in items}
        matches = {f["LogFileName"]: by_sk.get(f["LogFileName"]) for f in listed}
    else:
        matches = match_renamed(items, listed)
    newest = max(listed, key=_recency)["LogFileName"] if listed else ""
    seen: set[str] = set()
    for f in listed:
        item = matches.get(f["LogFileName"])
        sealed = _is_sealed(message.scheme, f, newest, now, seal_after_s)
        if item is None:
            written = _put_new(table, message, f, sealed, now)
            outcome.new += written
            outcome.writes += written
            continue
        seen.add(item["sk"])
        wrote = _update_changed(table, item, f, sealed, now)
        outcome.changed += wrote
        outcome.sealed += int(wrote and sealed and not item.get("sealed"))
        outcome.writes += wrote
    for item in items:
        if item["sk"] not in seen:
            outcome.writes += _mark_vanished(table, item, now, ttl_days, outcome)
    return outcome


def match_renamed(
    items: list[dict[str, Any]], listed: list[dict[str, Any]]
) -> dict[str, dict[str, Any] | None]:
    """rds-mysql: find how far the files shifted since the last scan (rotations), so a renamed file keeps
    its identity. A sealed file never changes, so (size, LastWritten) pins it; the active one only grows."""
    old = {position(i["log_file_name"]): i for i in items}
    new = {position(f["LogFileName"]): f for f in listed}
    top = max(new, default=-1)
    first_guess = max(0, len(new) - len(old))
    shift = next(
        (k for k in [first_guess, *range(top + 2)] if _consistent(old, new, k)),
        top + 1,  # nothing fits: every known file is gone
    )
    result: dict[str, dict[str, Any] | None] = {f["LogFileName"]: None for f in listed}
    for pos, item in old.items():
        f = new.get(pos + shift)
        if f is not None:
            result[f["LogFileName"]] = item
    return result


def _consistent(old: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]], shift: int) -> bool:
    mapped = 0
    for pos, item in old.items():
        f = new.get(pos + shift)
        if f is None:
            continue
        mapped += 1
        if item.get("sealed"):
            if (f["Size"], f["LastWritten"]) != (item["size"], item["last_written"]):
                return False
        elif f["Size"] < item["size"] or f["LastWritten"] < item["last_written"]:
            return False
    return mapped > 0 or not old or shift > max(new, default=-1)


def _recency(f: dict[str, Any]) -> tuple[int, list[Any]]:
    """Newest last: LastWritten, then the name with its numbers compared as numbers (a rotation can give
    the old and the new file the same millisecond)."""
    return f["LastWritten"], [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", f["LogFileName"])]


def _is_sealed(scheme: str, f: dict[str, Any], newest: str, now: float, seal_after_s: float) -> bool:
    if scheme == "rds-mysql":
        return position(f["LogFileName"]) >= 1
    return f["LogFileName"] != newest and (now * 1000 - f["LastWritten"]) >= seal_after_s * 1000


def file_id(message: InstanceMessage, f: dict[str, Any]) -> str:
    if message.scheme == "aurora":
        return str(f["LogFileName"])
    return f"{f['LogFileName']}@{f['LastWritten']}"


def _put_new(table: Any, message: InstanceMessage, f: dict[str, Any], sealed: bool, now: float) -> int:
    item = {
        "pk": message.instance_id,
        t.LIVE_KEY: message.instance_id,
        "sk": file_id(message, f),
        "cluster_id": message.cluster_id or "none",
        "engine": message.engine,
        "scheme": message.scheme,
        "log_file_name": f["LogFileName"],
        "size": f["Size"],
        "last_written": f["LastWritten"],
        "sealed": sealed,
        "state": t.DETECTED,
        "copied_bytes": 0,
        "marker": "",
        "parts": 0,
        "date": time.strftime("%Y-%m-%d", time.gmtime(now)),
        "first_seen": int(now * 1000),
        "updated_at": int(now * 1000),
    }
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        log.info("%s %s was recorded by a concurrent scan", message.instance_id, item["sk"])
        return 0
    return 1


def _update_changed(table: Any, item: dict[str, Any], f: dict[str, Any], sealed: bool, now: float) -> int:
    changes: dict[str, Any] = {}
    if f["Size"] != item["size"] or f["LastWritten"] != item["last_written"]:
        changes.update(size=f["Size"], last_written=f["LastWritten"])
    if f["LogFileName"] != item["log_file_name"]:
        changes["log_file_name"] = f["LogFileName"]
    if sealed and not item.get("sealed"):
        changes["sealed"] = True
    if not changes:
        return 0
    if item["state"] == t.BACKED_UP and f["Size"] > item["copied_bytes"]:
        changes["state"] = t.PARTIAL  # it grew after all: more to copy
    changes["updated_at"] = int(now * 1000)
    names = {f"#{k}": k for k in changes}
    values = {f":{k}": v for k, v in changes.items()}
    values.update({":old_size": item["size"], ":old_name": item["log_file_name"]})
    try:
        table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in changes),
            ConditionExpression="#size_ = :old_size AND log_file_name = :old_name",
            ExpressionAttributeNames={**names, "#size_": "size"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return 0
    return 1


def _mark_vanished(
    table: Any, item: dict[str, Any], now: float, ttl_days: int, outcome: DetectOutcome
) -> int:
    complete = item["copied_bytes"] >= item["size"]
    values: dict[str, Any] = {
        ":now": int(now * 1000),
        ":expires": int(now + ttl_days * 86400),
        ":state": t.BACKED_UP if complete else t.LOST,
        ":lost": max(0, item["size"] - item["copied_bytes"]),
    }
    try:
        table.update_item(
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression=(
                "SET vanished_at = :now, expires_at = :expires, #state = :state, lost_bytes = :lost, "
                f"updated_at = :now REMOVE {t.LIVE_KEY}"
            ),
            # a copy in flight decides itself (it sees the file gone and marks it)
            ConditionExpression="attribute_not_exists(vanished_at) AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return 0
    outcome.vanished += 1
    if not complete:
        outcome.lost.append(item["sk"])
        log.error(
            "audit file LOST before it was fully copied: instance=%s file=%s copied=%d of %d bytes",
            item["pk"],
            item["log_file_name"],
            item["copied_bytes"],
            item["size"],
        )
    return 1
