"""rds-mysql renames every audit file at each rotation: which listed file is which tracked item?

MariaDB's server_audit (and RDS for MySQL) keeps ``server_audit.log`` active and ``.1`` … ``.N`` older; a
rotation shifts every name by one and deletes ``.N``. Any number of rotations can happen between two scans,
so a name says nothing about identity. The rule here: **never attribute without proof**.

- A shift (the number of rotations since the last scan) is a candidate only if every tracked sealed file it
  maps keeps its (Size, LastWritten) — a sealed file never changes — and a tracked active file it moves to a
  sealed position has not shrunk.
- A candidate is proven by content: the head (first line, see ``identity``) of one mapped file equals the
  head recorded for its item. One small RDS call per scan, none when nothing changed at all.
- Whatever the shift leaves unmatched is matched by head, file by file; what has no equal head is new (for a
  listed file) or gone (for an item): the caller records the gone as vanished, LOST if not fully copied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_POSITION = re.compile(r"\.(\d+)$")
Heads = Callable[[str], str | None]  # listed file name -> sha256 of its head (None: no first line yet)


def position(name: str) -> int:
    """0 for the active server_audit.log, N for server_audit.log.N."""
    match = _POSITION.search(name)
    return int(match.group(1)) if match else 0


def match_rotated(
    items: list[dict[str, Any]], listed: list[dict[str, Any]], heads: Heads
) -> dict[str, dict[str, Any] | None]:
    """Listed file name -> its tracked item, or None for a file not tracked yet."""
    result: dict[str, dict[str, Any] | None] = {f["LogFileName"]: None for f in listed}
    new = {position(f["LogFileName"]): f for f in listed}
    old = _one_per_position(items)
    if old and _unchanged(old, new):
        return {**result, **{new[p]["LogFileName"]: item for p, item in old.items()}}
    matched: set[str] = set()
    shift = _proven_shift(old, new, heads)
    if shift is not None:
        for p, item in old.items():
            f = new.get(p + shift)
            if f is not None and (item.get("sealed") or _still_active_file(item, f, heads)):
                result[f["LogFileName"]] = item
                matched.add(item["sk"])
    by_head = {i["head_sha"]: i for i in items if i.get("head_sha") and i["sk"] not in matched}
    for f in listed:
        name = f["LogFileName"]
        if result[name] is None and f["Size"] > 0:
            sha = heads(name)
            if sha is not None and sha in by_head:
                result[name] = by_head.pop(sha)
    return result


def _one_per_position(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Items by the position of their last known name; two items at one position (left by an older
    version) cannot both be that file: the first seen keeps it, the other can still match by head."""
    old: dict[int, dict[str, Any]] = {}
    for item in sorted(items, key=lambda i: (i.get("first_seen", 0), i["sk"])):
        old.setdefault(position(item["log_file_name"]), item)
    return old


def _unchanged(old: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]]) -> bool:
    """Nothing moved: every item's file is listed as it was, and any other listed file is empty."""
    for p, item in old.items():
        f = new.get(p)
        if f is None or (f["Size"], f["LastWritten"]) != (item["size"], item["last_written"]):
            return False
    return all(f["Size"] == 0 for p, f in new.items() if p not in old)


def _proven_shift(old: dict[int, dict[str, Any]], new: dict[int, dict[str, Any]], heads: Heads) -> int | None:
    for shift in range(max(new, default=-1) + 1):
        mapped = {p: new[p + shift] for p in old if p + shift in new}
        if not mapped:
            return None  # a larger shift maps nothing either: every tracked file is gone
        if _sizes_agree(old, mapped, shift) and _content_agrees(old, mapped, heads):
            return shift
    return None


def _sizes_agree(old: dict[int, dict[str, Any]], mapped: dict[int, dict[str, Any]], shift: int) -> bool:
    for p, f in mapped.items():
        item = old[p]
        if item.get("sealed"):
            if (f["Size"], f["LastWritten"]) != (item["size"], item["last_written"]):
                return False
        elif shift and f["Size"] < item["size"]:
            return False  # the active file, now rotated: it can only have grown
    return True


def _content_agrees(old: dict[int, dict[str, Any]], mapped: dict[int, dict[str, Any]], heads: Heads) -> bool:
    """One anchor proves the whole shift (rotation keeps the order): the newest sealed file with a
    recorded head, else the active one."""
    anchors = sorted(
        (p for p in mapped if old[p].get("head_sha")), key=lambda p: (not old[p].get("sealed"), p)
    )
    if not anchors:
        return False
    p = anchors[0]
    return heads(mapped[p]["LogFileName"]) == old[p]["head_sha"]


def _still_active_file(item: dict[str, Any], f: dict[str, Any], heads: Heads) -> bool:
    """The tracked active file under a proven shift: it only grows and its clock only moves on; anything
    else (a clock stepped back, a file that shrank) is checked by content, not assumed."""
    if f["Size"] >= item["size"] and f["LastWritten"] >= item["last_written"]:
        return True
    return bool(item.get("head_sha")) and heads(f["LogFileName"]) == item["head_sha"]
