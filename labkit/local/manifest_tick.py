"""The local lab's stand-in for the daily manifest rule: the runtime's scan ticker calls this after each
scan, and at the first scan of each new UTC day it invokes the scanner with the rule's constant input (what
EventBridge sends on AWS), so the scanner writes yesterday's and today's manifests through the same code.

As on AWS, nothing runs at start-up: the first run is after the next midnight (UTC). `labkit manifest`
writes them by hand at any time; both are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from labkit.backup.daily_manifests import manifest_event


def utc_today() -> date:
    return datetime.now(UTC).date()


class DailyManifestTick:
    def __init__(
        self, invoke: Callable[[dict[str, Any]], Any], today: Callable[[], date] | None = None
    ) -> None:
        self._invoke = invoke
        self._today = today
        self.last_day = self.today()

    def today(self) -> date:
        return self._today() if self._today else utc_today()

    def __call__(self) -> bool:
        """Invoke the manifest run if the UTC day changed since the last run (or the start); whether it ran."""
        day = self.today()
        if day == self.last_day:
            return False
        self.last_day = day  # a failed run is not repeated every scan: it is an error to look at, as on AWS
        self._invoke(manifest_event())
        return True
