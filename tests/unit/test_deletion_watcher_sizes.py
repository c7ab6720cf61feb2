"""The emulator's deletion events say a file's final size, not its last listed one: RDS knows what it
deletes, and a file that grew after the last look would otherwise be settled with too few lost bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.backup.rdsevents import deleted_file_in
from labkit.local.emulator.deletion_events import DeletionWatcher
from labkit.local.emulator.logfiles import AuditDirectory
from tests.support.emulated import audit_line


def watcher(directory: Path, scheme: str, sent: list[str]) -> DeletionWatcher:
    audit = AuditDirectory(directory, scheme)
    return DeletionWatcher(
        lambda: {"db-1": audit},
        lambda _: True,
        sent.append,
        region="us-east-1",
        account_id="123456789012",
        topic_arn="arn:aws:sns:us-east-1:123456789012:lab-alarms",
    )


@pytest.mark.parametrize("scheme", ["aurora", "rds-mysql"])
def test_a_file_that_grew_after_the_last_look_is_reported_with_its_final_size(
    tmp_path: Path, scheme: str
) -> None:
    # GIVEN a file the watcher looked at with 10 lines
    path = tmp_path / "server_audit.log"
    path.write_bytes(b"".join(audit_line(i) for i in range(10)))
    sent: list[str] = []
    w = watcher(tmp_path, scheme, sent)
    w.check()
    # WHEN it grows to 25 lines and is deleted before the next look
    with open(path, "ab") as handle:
        handle.write(b"".join(audit_line(i) for i in range(10, 25)))
    final = path.stat().st_size
    path.unlink()
    w.check()
    w.stop()
    # THEN the event names it with its final size
    (body,) = sent
    deleted = deleted_file_in(body)
    assert deleted is not None and deleted.size == final


def test_a_file_only_a_client_listed_is_reported_without_a_size(tmp_path: Path) -> None:
    # GIVEN a file born after the watcher's look and listed only by a client (DescribeDBLogFiles)
    sent: list[str] = []
    audit = AuditDirectory(tmp_path, "rds-mysql")
    w = DeletionWatcher(
        lambda: {"db-1": audit},
        lambda _: True,
        sent.append,
        region="us-east-1",
        account_id="123456789012",
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
    )
    w.check()
    path = tmp_path / "server_audit.log"
    path.write_bytes(audit_line(1))
    audit.files()  # the client's listing, remembered for the watcher
    with open(path, "ab") as handle:
        handle.write(audit_line(2))
    path.unlink()
    w.check()
    w.stop()
    # THEN the event names it, and says no size it cannot know
    (body,) = sent
    deleted = deleted_file_in(body)
    assert deleted is not None and deleted.size is None and deleted.name.startswith("audit/")


@pytest.mark.parametrize("scheme", ["aurora", "rds-mysql"])
def test_a_file_that_left_the_listing_but_not_the_disk_raises_no_deletion_event(
    tmp_path: Path, scheme: str
) -> None:
    # GIVEN a file the watcher saw, then moved out of the listing while it stays on disk (as a file the
    # emulator lists under another identity stays on disk): nothing was deleted
    path = tmp_path / "server_audit.log"
    path.write_bytes(audit_line(1))
    sent: list[str] = []
    w = watcher(tmp_path, scheme, sent)
    w.check()
    path.rename(tmp_path / "kept-aside.log")
    w.check()
    w.stop()
    # THEN no event says it was deleted (the detector would record a file that never went away as LOST)
    assert sent == []
