"""EventBridge's part: the scanner invoked with a Scheduled Event every ``scan_interval_s``, and the daily
manifest rule's stand-in after a scan."""

from __future__ import annotations

from labkit.local.events import scheduled_event
from labkit.local.runtime.invoke import RuntimeBase, json_log, log


class ScheduleSource(RuntimeBase):
    def tick(self) -> None:
        """Invoke the scanner with a Scheduled Event now (what the rule does every interval)."""
        self.resolve()
        self._invoke("scanner", scheduled_event(self.rule_arn, self.config.region), item_ids=[])

    def _ticker(self) -> None:
        wait = self.first_tick_s
        while not self._stop.wait(wait):
            try:
                self.tick()
                self.manifest_tick()
            except Exception:  # a failed scan is logged by _invoke; keep the schedule
                log.exception(json_log("ticker_error"))
            wait = self.config.scan_interval_s
