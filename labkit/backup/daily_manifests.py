"""The daily manifest run: yesterday's and today's manifests of every instance, written by the DB Scanner.

A schedule (the lab stack's daily EventBridge rule; the local runtime's daily tick) invokes the scanner with
the constant input :func:`manifest_event`. The scanner then writes, through labkit.backup.manifest, the
manifest of each (instance, day) for the previous and the current UTC day: yesterday's is closed by now
(late parts of it get a revision), today's records what is already there so a later tamper is caught
sooner. Writing is idempotent, so a retried or doubled invocation writes nothing new.

Time-boxed: a run stops starting new (instance, day) pairs when the invocation is about to time out and
says which it deferred; the handler then fails, and Lambda's asynchronous retry resumes (what was written
is confirmed unchanged without being read again). One pair must fit in one invocation's time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from labkit.backup.manifest import (
    ManifestError,
    ManifestOutcome,
    list_parts,
    manifested_days,
    write_manifests,
)

log = logging.getLogger(__name__)

ACTION_KEY, MANIFEST_ACTION = "action", "manifest"
SCHEDULE = "cron(15 0 * * ? *)"  # 00:15 UTC: yesterday's last scans and copies have had time to land
RESERVE_MS = 20_000  # no new (instance, day) with less than this left of the invocation


def manifest_event() -> dict[str, str]:
    """The schedule's constant input (EventBridge delivers it as the whole event)."""
    return {ACTION_KEY: MANIFEST_ACTION}


def is_manifest_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get(ACTION_KEY) == MANIFEST_ACTION


def recent_days(now: datetime | None = None) -> tuple[str, str]:
    """(yesterday, today) as the S3 layout's date= partitions, in UTC."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return (today - timedelta(days=1)).isoformat(), today.isoformat()


@dataclass
class ManifestRun:
    written: list[ManifestOutcome] = field(default_factory=list)
    unchanged: list[ManifestOutcome] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # "instance/day" -> why
    deferred: list[str] = field(default_factory=list)  # "instance/day" left for lack of time

    def summary(self) -> dict[str, Any]:
        return {
            "written": [o.key for o in self.written],
            "unchanged": len(self.unchanged),
            "failed": dict(self.failed),
            "deferred": list(self.deferred),
        }


def write_recent_manifests(
    s3: Any,
    bucket: str,
    prefix: str,
    days: tuple[str, ...],
    *,
    time_left_ms: Callable[[], int] | None = None,
    reserve_ms: int = RESERVE_MS,
) -> ManifestRun:
    """Write (or confirm) the manifest of every instance with parts, or a manifest, on one of ``days``.

    One (instance, day) failing (ManifestError: a part altered, a concurrent writer) does not stop the
    others; it is returned in ``failed`` for the caller to raise after the rest are written. With
    ``time_left_ms`` (the Lambda context's clock), pairs not started before ``reserve_ms`` is all that is
    left are returned in ``deferred``.
    """
    wanted = set(days)
    found = {(p.instance_id, p.date) for p in list_parts(s3, bucket, prefix) if p.date in wanted}
    found |= {(i, d) for i, d in manifested_days(s3, bucket, prefix) if d in wanted}
    run = ManifestRun()
    todo = sorted(found, key=lambda pair: (pair[1], pair[0]))  # older day first: the chain's order
    for n, (instance_id, day) in enumerate(todo):
        if time_left_ms is not None and time_left_ms() < reserve_ms:
            run.deferred = [f"{i}/{d}" for i, d in todo[n:]]
            log.warning("out of time: %d manifest(s) deferred to the retry", len(run.deferred))
            break
        try:
            outcome = write_manifests(s3, bucket, prefix, instance_id, day)
        except ManifestError as exc:
            run.failed[f"{instance_id}/{day}"] = str(exc)
            log.error("manifest of %s for %s not written: %s", instance_id, day, exc)
            continue
        if outcome is not None:
            (run.written if outcome.written else run.unchanged).append(outcome)
    return run
