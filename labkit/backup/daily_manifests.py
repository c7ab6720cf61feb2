"""The daily manifest run: yesterday's and today's manifests of every instance, written by the DB Scanner.

A schedule (the lab stack's daily EventBridge rule; the local runtime's daily tick) invokes the scanner with
the constant input :func:`manifest_event`. The scanner then writes, through labkit.backup.manifest, the
manifest of each (instance, day) for the previous and the current UTC day: yesterday's is closed by now
(late parts of it get a revision), today's records what is already there so a later tamper is caught
sooner. Writing is idempotent, so a retried or doubled invocation writes nothing new.
"""

from __future__ import annotations

import logging
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

    def summary(self) -> dict[str, Any]:
        return {
            "written": [o.key for o in self.written],
            "unchanged": len(self.unchanged),
            "failed": dict(self.failed),
        }


def write_recent_manifests(s3: Any, bucket: str, prefix: str, days: tuple[str, ...]) -> ManifestRun:
    """Write (or confirm) the manifest of every instance with parts, or a manifest, on one of ``days``.

    One (instance, day) failing (ManifestError: a part altered, a concurrent writer) does not stop the
    others; it is returned in ``failed`` for the caller to raise after the rest are written.
    """
    wanted = set(days)
    found = {(p.instance_id, p.date) for p in list_parts(s3, bucket, prefix) if p.date in wanted}
    found |= {(i, d) for i, d in manifested_days(s3, bucket, prefix) if d in wanted}
    run = ManifestRun()
    for instance_id, day in sorted(found, key=lambda pair: (pair[1], pair[0])):  # older day first
        try:
            outcome = write_manifests(s3, bucket, prefix, instance_id, day)
        except ManifestError as exc:
            run.failed[f"{instance_id}/{day}"] = str(exc)
            log.error("manifest of %s for %s not written: %s", instance_id, day, exc)
            continue
        if outcome is not None:
            (run.written if outcome.written else run.unchanged).append(outcome)
    return run
