"""Which table changes wake the Log Downloader: DynamoDB stream filter criteria, and the matcher that applies
them locally.

Every write to the tracking table names its writer (attribute ``writer``). Only the detector's writes (a new
file, new bytes, a seal) mean there may be something to copy; the downloader's own lease, commit and release
writes must not wake it again, or a file that keeps failing multiplies its records (issue 8, sequence 4).
The one exception is a hand-over: a downloader commit that left bytes to copy that no detector write will
announce (it stopped for time, adopted an earlier attempt's shorter part, or held back the partial last line
of a file sealed since it was read) writes ``writer = "downloader-continue"``, so the next invocation carries
on. It is bounded: it is written only by a commit that moved ``copied_bytes`` forward, and never past the
listed size.

The Pulumi stack passes :data:`DOWNLOADER_FILTER_CRITERIA` to the event source mapping; the local runtime
applies the same criteria with :func:`matches_criteria` (the subset of Lambda's event filtering syntax used
here: exact values, ``exists``, ``prefix`` and ``anything-but``, nested objects, any-of lists).
"""

from __future__ import annotations

import functools
import json
from typing import Any

WRITER_ATTRIBUTE = "writer"
DETECTOR_WRITER = "detector"
DOWNLOADER_WRITER = "downloader"
CONTINUE_WRITER = "downloader-continue"  # a commit handing unfinished work to the next invocation

DOWNLOADER_PATTERN: dict[str, Any] = {
    "dynamodb": {"NewImage": {WRITER_ATTRIBUTE: {"S": [DETECTOR_WRITER, CONTINUE_WRITER]}}}
}
# AWS::Lambda::EventSourceMapping FilterCriteria (patterns are JSON strings)
DOWNLOADER_FILTER_CRITERIA: dict[str, Any] = {"Filters": [{"Pattern": json.dumps(DOWNLOADER_PATTERN)}]}


def downloader_filter_criteria() -> dict[str, Any]:
    """A fresh copy of the downloader's FilterCriteria (callers may mutate what they get)."""
    copied: dict[str, Any] = json.loads(json.dumps(DOWNLOADER_FILTER_CRITERIA))
    return copied


def matches_criteria(criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Lambda's rule: no criteria pass everything; otherwise a record passes when any filter matches."""
    filters = (criteria or {}).get("Filters") or []
    if not filters:
        return True
    return any(matches_pattern(_pattern(f["Pattern"]), record) for f in filters)


def matches_pattern(pattern: dict[str, Any], event: Any) -> bool:
    """Every key of the pattern must match the event's field of the same name."""
    if not isinstance(event, dict):
        return False
    for key, rule in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(rule, dict):
            if not present or not matches_pattern(rule, value):
                return False
        elif isinstance(rule, list):
            if not _matches_any(rule, present, value):
                return False
        else:
            raise ValueError(f"filter pattern value for {key!r} must be an object or a list, got {rule!r}")
    return True


def _matches_any(rules: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, dict):
            if "exists" in rule:
                if bool(rule["exists"]) == present:
                    return True
                continue
            if present and any(_content_match(rule, v) for v in values):
                return True
        elif present and any(v == rule and type(v) is type(rule) for v in values):
            return True
    return False


def _content_match(rule: dict[str, Any], value: Any) -> bool:
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(str(rule["prefix"]))
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        return value not in (excluded if isinstance(excluded, list) else [excluded])
    raise ValueError(f"unsupported filter rule {rule!r}: use values, exists, prefix or anything-but")


@functools.lru_cache(maxsize=64)
def _pattern(text: str) -> dict[str, Any]:
    """A filter's pattern, parsed once (the local runtime matches every stream record against it)."""
    return dict(json.loads(text))


def item_key(record: dict[str, Any]) -> str:
    """A stream record's item key (partition and sort key: one tracked audit file), as one stable string:
    what keeps one file's records in order, in Lambda's parallel batches and in one batch's copies."""
    return json.dumps(record.get("dynamodb", {}).get("Keys", {}), sort_keys=True)
