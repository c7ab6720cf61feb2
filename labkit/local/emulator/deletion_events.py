"""The emulator's stand-in for RDS's deletion events: notice an audit file (or an instance) disappearing.

On AWS, RDS raises RDS-EVENT-0610/0611 when it deletes a log file and RDS-EVENT-0003 when an instance is
deleted; an event subscription publishes them to the alarm topic, and the detector's queue receives SNS's
envelope. Here a thread lists every registered audit directory about once a second (the same listing
DescribeDBLogFiles answers from) and, for each file gone since the last look, sends that same envelope to
the detector's queue, so the detector takes one code path on both targets.

Every listing of a watched directory is remembered until the next look (DescribeDBLogFiles' too), so a
file the detector listed cannot be created and deleted unseen between two looks; a file nobody listed is
never seen, as it was never tracked either.

RDS knows the size of what it deletes; the watcher learns it the same way a deleter would: it holds each
file it has seen open, and a deleted file's descriptor still gives its final size. An event says
"(N bytes)" only then: a file seen only through a client's listing, or one the watcher could not open,
gets an event without a size, since its last listed size may not be its last (it may have grown since).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from labkit.backup import rdsevents
from labkit.local.emulator.logfiles import AuditFiles, LogFile, vanished

log = logging.getLogger(__name__)


class DeletionWatcher:
    """Polls the registered directories; ``publish(body)`` gets one SNS-wrapped RDS event per deletion."""

    def __init__(
        self,
        directories: Callable[[], dict[str, AuditFiles]],
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
        self._held: dict[tuple[str, int], int] = {}  # (instance, inode) -> an open descriptor of that file
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
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()

    def _hold(self, instance_id: str, files: list[LogFile]) -> None:
        """Keep each listed file open (checked to be the listed inode: MariaDB may rename meanwhile)."""
        for f in files:
            if (instance_id, f.inode) in self._held:
                continue
            try:
                fd = os.open(f.path, os.O_RDONLY)
            except OSError:
                continue  # renamed or deleted since the listing: the next look sees where it went
            if os.fstat(fd).st_ino == f.inode:
                self._held[(instance_id, f.inode)] = fd
            else:
                os.close(fd)

    def _deletion(
        self, instance_id: str, gone: LogFile, scheme: str, live: set[int]
    ) -> tuple[bool, int | None]:
        """(deleted?, final size or None). A file missing from a listing is deleted only if its inode has no
        name left: one the emulator merely listed under another name (its aurora identity changed) is
        still on disk, and an event for it would name a file that never went away."""
        fd = self._held.get((instance_id, gone.inode))
        if fd is None:
            return not (scheme == "aurora" and gone.inode in live), None
        st = os.fstat(fd)
        if st.st_nlink > 0:
            return False, None
        os.close(self._held.pop((instance_id, gone.inode)))
        return True, st.st_size

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
                for key in [k for k in self._held if k[0] == instance_id]:
                    os.close(self._held.pop(key))
                if before is not None:  # it was there at the last look: deleted through the API
                    sent += self._send(instance_id, rdsevents.INSTANCE_DELETED, "DB instance deleted")
                continue
            audit.remember_listings = True
            after = audit.files()
            seen = audit.listed_since()  # ``after`` and whatever a client listed since the last look
            self._listings[instance_id] = after
            if before is None:
                self._hold(instance_id, after)
                continue  # the first look is the baseline
            live = {f.inode for f in after}
            for gone in vanished([*before, *seen], after, audit.scheme):
                deleted, size = self._deletion(instance_id, gone, audit.scheme, live)
                if not deleted:
                    log.warning(
                        "%s %s left the listing but is still on disk: no deletion event",
                        instance_id,
                        gone.name,
                    )
                    continue
                text = rdsevents.log_file_deleted_message(gone.name, size)
                sent += self._send(instance_id, rdsevents.LOG_FILE_DELETED_RETENTION, text)
            self._hold(instance_id, after)
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
