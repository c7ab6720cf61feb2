"""The emulator's stand-in for RDS's deletion events: notice an audit file (or an instance) disappearing.

On AWS, RDS raises RDS-EVENT-0610/0611 when it deletes a log file and RDS-EVENT-0003 when an instance is
deleted; an event subscription publishes them to the alarm topic, and the detector's queue receives SNS's
envelope. Here a thread lists every registered audit directory about once a second (the same listing
DescribeDBLogFiles answers from) and, for each file gone since the last look, sends that same envelope to
the detector's queue, so the detector takes one code path on both targets.

Every listing of a watched directory is remembered until the next look (DescribeDBLogFiles' too), so a
file the detector listed cannot be created and deleted unseen between two looks; a file nobody listed is
never seen, as it was never tracked either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from labkit.backup import rdsevents
from labkit.local.logfiles import AuditDirectory, LogFile, vanished

log = logging.getLogger(__name__)


class DeletionWatcher:
    """Polls the registered directories; ``publish(body)`` gets one SNS-wrapped RDS event per deletion."""

    def __init__(
        self,
        directories: Callable[[], dict[str, AuditDirectory]],
        exists: Callable[[str], bool],
        publish: Callable[[str], None],
        *,
        region: str,
        account_id: str,
        topic_arn: str,
        interval_s: float = 1.0,
    ) -> None:
        self._directories, self._exists, self._publish = directories, exists, publish
        self.region, self.account_id, self.topic_arn = region, account_id, topic_arn
        self.interval_s = interval_s
        self._listings: dict[str, list[LogFile]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deletion-events", daemon=True)
        self.published = 0

    def start(self) -> None:
        self.check()  # the baseline: files already gone before the watch began raise nothing
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # one bad look must not end the watch
                log.exception("deletion watcher: listing the audit directories failed; trying again")

    def check(self) -> int:
        """One look at every registered instance; returns how many events were sent."""
        sent = 0
        for instance_id, audit in self._directories().items():
            before = self._listings.get(instance_id)
            if not self._exists(instance_id):
                self._listings.pop(instance_id, None)
                if before is not None:  # it was there at the last look: deleted through the API
                    sent += self._send(instance_id, rdsevents.INSTANCE_DELETED, "DB instance deleted")
                continue
            audit.remember_listings = True
            after = audit.files()
            seen = audit.listed_since()  # ``after`` and whatever a client listed since the last look
            self._listings[instance_id] = after
            if before is None:
                continue  # the first look is the baseline
            for gone in vanished([*before, *seen], after, audit.scheme):
                text = rdsevents.log_file_deleted_message(gone.name, gone.size)
                sent += self._send(instance_id, rdsevents.LOG_FILE_DELETED_RETENTION, text)
        return sent

    def _send(self, instance_id: str, event_id: str, message: str) -> int:
        event = rdsevents.rds_event(instance_id, event_id, message, self.region, self.account_id)
        try:
            self._publish(rdsevents.sns_envelope(event, self.topic_arn))
        except Exception as exc:  # no queue (pipeline not deployed) or the emulator stopping: say so
            log.warning("%s %s for %s not delivered: %s", event_id, message, instance_id, exc)
            return 0
        log.info("%s for %s: %s", event_id, instance_id, message)
        self.published += 1
        return 1
