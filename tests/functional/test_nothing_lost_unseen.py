"""Nothing lost unseen (issue 15): a file that vanishes unsealed is LOST, never BACKED_UP; a deletion event's
file and size are evidence; a look that cannot rule out files born and deleted since the last one records a
gap. The real emulator over HTTP, real files, the real detector and downloader cores."""

from __future__ import annotations

from pathlib import Path

from labkit.backup import gaps
from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.rdsevents import DeletedFile
from labkit.backup.scanner import InstanceMessage
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import Pipeline, append
from tests.support.rotation import rotate_files

ACTIVE = "server_audit.log"  # what MariaDB writes; the emulator lists it under an Aurora-style name


def scan(
    pipeline: Pipeline, instance: str, scheme: str = "aurora", deleted: DeletedFile | None = None
) -> object:
    message = InstanceMessage(instance, f"{instance}-cluster", "aurora-mysql", scheme)
    return detect(
        pipeline.account.rds,
        pipeline.table,
        message,
        seal_after_s=3600,  # never sealed by age here: the file is still "being written"
        ttl_days=30,
        credentials=pipeline.account.session.get_credentials(),
        deleted=deleted,
    )


def grown_then_deleted(pipeline: Pipeline, account: EmulatedAccount, instance: str) -> tuple[str, int]:
    """The issue's sequence: a look lists the file, every listed byte is copied, the file grows, rotates
    out and is deleted before the next look. Returns the file's listed name and its final size."""
    directory = account.add_instance(instance)
    path = directory / ACTIVE
    append(path, 0, 8)
    scan(pipeline, instance)
    pipeline.copy_all(instance)
    (item,) = t.instance_items(pipeline.table, instance)
    assert item["copied_bytes"] == item["size"] == path.stat().st_size and not item["sealed"]
    append(path, 8, 17)
    final = path.stat().st_size
    path.unlink()
    return str(item["log_file_name"]), final


def test_a_file_vanished_unsealed_is_lost_with_a_lower_bound_and_a_gap(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a file copied to its listed size that then grew and vanished before the next look
    _, final = grown_then_deleted(pipeline, account, "db-1")
    # WHEN the next look finds it gone (no deletion event arrived)
    outcome = scan(pipeline, "db-1")
    # THEN it is LOST with a lower bound (not BACKED_UP), and a gap names the window
    (item,) = t.instance_items(pipeline.table, "db-1")
    assert (item["state"], item["lost_exact"]) == (t.LOST, False), item
    assert item["lost_bytes"] <= final - item["copied_bytes"]
    assert outcome.lost == [item["sk"]] and outcome.lost_lower_bound == 1  # type: ignore[attr-defined]
    (gap,) = gaps.gaps(pipeline.table, ["db-1"])
    assert gap["files"] == [item["sk"]] and gap["from_ms"] <= item["last_written"] <= gap["to_ms"]
    assert outcome.gaps == [gap["sk"]]  # type: ignore[attr-defined]
    # AND a second look records nothing twice
    again = scan(pipeline, "db-1")
    assert not again.gaps and len(gaps.gaps(pipeline.table, ["db-1"])) == 1  # type: ignore[attr-defined]


def test_a_deletion_event_with_the_size_makes_the_loss_exact(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN the same history, and RDS's event naming the file with its final size
    name, final = grown_then_deleted(pipeline, account, "db-2")
    event = DeletedFile("db-2", name, final, t.now_ms())
    # WHEN the scan the event asks for runs
    scan(pipeline, "db-2", deleted=event)
    # THEN the lost bytes are exact: every byte after the copied ones
    (item,) = t.instance_items(pipeline.table, "db-2")
    assert (item["state"], item["lost_exact"], item["size"]) == (t.LOST, True, final)
    assert item["lost_bytes"] == final - item["copied_bytes"] > 0


def test_an_event_arriving_after_the_look_settles_the_final_size(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN the file already called LOST with a lower bound by a scheduled look
    name, final = grown_then_deleted(pipeline, account, "db-3")
    scan(pipeline, "db-3")
    # WHEN its deletion event arrives later, twice (SQS delivers at least once)
    event = DeletedFile("db-3", name, final, t.now_ms())
    first = scan(pipeline, "db-3", deleted=event)
    second = scan(pipeline, "db-3", deleted=event)
    # THEN the event settles it once
    (item,) = t.instance_items(pipeline.table, "db-3")
    assert (item["lost_exact"], item["lost_bytes"]) == (True, final - item["copied_bytes"])
    assert first.settled == [item["sk"]] and not second.settled  # type: ignore[attr-defined]


def test_a_file_copied_whole_and_its_event_says_so_is_backed_up(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an unsealed file copied whole, deleted without growing, and an event with that very size
    path = account.add_instance("db-4") / ACTIVE
    append(path, 0, 5)
    scan(pipeline, "db-4")
    pipeline.copy_all("db-4")
    size = path.stat().st_size
    (listed,) = t.instance_items(pipeline.table, "db-4")
    path.unlink()
    scan(pipeline, "db-4", deleted=DeletedFile("db-4", listed["log_file_name"], size, t.now_ms()))
    # THEN its end is known and every byte is in S3: BACKED_UP, and no gap (nothing left open)
    (item,) = t.instance_items(pipeline.table, "db-4")
    assert (item["state"], item["lost_bytes"], item["lost_exact"]) == (t.BACKED_UP, 0, True)


def test_an_event_for_a_file_no_look_saw_records_it_lost(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an instance whose file was created and deleted between two looks
    directory = account.add_instance("db-5")
    append(directory / ACTIVE, 0, 3)
    scan(pipeline, "db-5")
    event = DeletedFile("db-5", "audit/audit.log.1.2026-12-07-10-00.0", 4321, t.now_ms())
    # WHEN its deletion event arrives (and again)
    outcome = scan(pipeline, "db-5", deleted=event)
    scan(pipeline, "db-5", deleted=event)
    # THEN that file is LOST, all 4,321 bytes, exactly, recorded once
    unseen = [i for i in t.instance_items(pipeline.table, "db-5") if i.get("unseen")]
    assert [(i["sk"], i["state"], i["lost_bytes"], i["lost_exact"]) for i in unseen] == [
        ("audit/audit.log.1.2026-12-07-10-00.0", t.LOST, 4321, True)
    ]
    assert outcome.unseen == [unseen[0]["sk"]]  # type: ignore[attr-defined]


def test_an_event_without_a_size_records_a_lower_bound(pipeline: Pipeline, account: EmulatedAccount) -> None:
    # GIVEN an event naming an Aurora file no look saw, without its size
    account.add_instance("db-6")
    event = DeletedFile("db-6", "audit/audit.log.2.2026-12-07-10-00.0", None, t.now_ms())
    scan(pipeline, "db-6", deleted=event)
    # THEN the file is LOST, its bytes unknown: 0 as a lower bound, never called exact
    (item,) = [i for i in t.instance_items(pipeline.table, "db-6") if i.get("unseen")]
    assert (item["state"], item["lost_bytes"], item["lost_exact"]) == (t.LOST, 0, False)


class Rotating:
    """MariaDB's renaming rotation (rds-mysql) on real files: position 0 active, ``keep`` older kept."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory, self.keep, self.line = directory, keep, 0
        self.deleted: list[tuple[str, int, int]] = []  # (name at deletion, size, ms)

    def path(self, pos: int) -> Path:
        return self.directory / ("server_audit.log" if pos == 0 else f"server_audit.log.{pos}")

    def write(self, lines: int) -> None:
        with open(self.path(0), "ab") as handle:
            handle.write(b"".join(audit_line(self.line + i) for i in range(lines)))
        self.line += lines

    def rotate(self) -> None:
        rotate_files(self.directory, self.keep, before_delete=self._record)

    def _record(self, oldest: Path) -> None:
        self.deleted.append((f"audit/{oldest.name}", oldest.stat().st_size, t.now_ms()))


def test_a_rotation_burst_beyond_the_kept_files_records_a_gap_and_events_name_the_unseen(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an rds-mysql instance keeping 2 rotated files, looked at once
    server = Rotating(account.add_instance("db-7", scheme="rds-mysql"), keep=2)
    server.write(5)
    scan(pipeline, "db-7", "rds-mysql")
    # WHEN 5 rotations (more than kept) happen before the next look
    for _ in range(5):
        server.write(3)
        server.rotate()
    server.write(2)
    outcome = scan(pipeline, "db-7", "rds-mysql")
    # THEN the look records a gap: the active file it knew is gone, and so may be files after it
    assert len(outcome.gaps) == 1  # type: ignore[attr-defined]
    (gap,) = gaps.gaps(pipeline.table, ["db-7"])
    assert gap["from_ms"] <= server.deleted[0][2] and gap["to_ms"] >= server.deleted[-1][2]
    # AND the deletion events (delivered now): the files smaller than anything known are recorded LOST
    # from their events; the known file's own event cannot be told from a later, larger file's (names
    # shift, sizes grow), so that file keeps its lower bound and its event is noted on the gap
    for name, size, at in server.deleted:
        scan(pipeline, "db-7", "rds-mysql", deleted=DeletedFile("db-7", name, size, at))
    items = t.instance_items(pipeline.table, "db-7")
    known = [i for i in items if "vanished_at" in i and not i.get("unseen")]
    unseen = sorted(i["size"] for i in items if i.get("unseen"))
    assert [(i["state"], i["lost_exact"]) for i in known] == [(t.LOST, False)]
    assert unseen == sorted(size for _, size, _ in server.deleted[1:])
    assert len(gaps.gaps(pipeline.table, ["db-7"])[0]["events"]) == 1
    assert all(i["lost_exact"] and i["lost_bytes"] == i["size"] for i in items if i.get("unseen"))


def test_a_quiet_instance_records_no_gap(pipeline: Pipeline, account: EmulatedAccount) -> None:
    # GIVEN normal life: a look between every rotation (fewer rotations than kept files)
    server = Rotating(account.add_instance("db-8", scheme="rds-mysql"), keep=2)
    for _ in range(6):
        server.write(4)
        scan(pipeline, "db-8", "rds-mysql")
        server.rotate()
    server.write(1)
    scan(pipeline, "db-8", "rds-mysql")
    # THEN files rotate out sealed, with no gap and no lower bound
    assert gaps.gaps(pipeline.table, ["db-8"]) == []
    assert all(i.get("lost_exact", True) for i in t.instance_items(pipeline.table, "db-8"))


def test_a_copy_that_finds_an_unsealed_file_gone_records_the_gap_once(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a file detected while being written, gone before its copy starts
    path = account.add_instance("db-9") / ACTIVE
    append(path, 0, 6)
    scan(pipeline, "db-9")
    (item,) = t.instance_items(pipeline.table, "db-9")
    path.unlink()
    # WHEN the downloader finds it gone, and a detector that read the item before that decides too
    outcome = pipeline.downloader().copy(item["pk"], item["sk"], "1")
    gaps.record(
        pipeline.table,
        "db-9",
        from_ms=int(item["last_written"]) - 5,  # its own read, its own window
        to_ms=t.now_ms(),
        trigger=item,
        reason="the detector's look",
        ttl_days=30,
    )
    scan(pipeline, "db-9")
    # THEN the file is LOST with a lower bound, and there is one gap for it
    (lost,) = t.instance_items(pipeline.table, "db-9")
    assert (outcome.action, lost["state"], lost["lost_exact"]) == ("lost", t.LOST, False)
    assert [g["files"] for g in gaps.gaps(pipeline.table, ["db-9"])] == [[item["sk"]]]
    assert outcome.gap == item["sk"]
