"""The audit meter counts new bytes and lines across MariaDB's rename-rotation, never twice, never lost."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from labkit.traffic.audit import AuditCounter, AuditMeter

LINE = b"20261126 15:51:19,vm,labadmin,127.0.0.1,4,000001,QUERY,labdb,'SELECT 1',0\n"
_query_ids = itertools.count(1)


def append(path: Path, lines: int) -> None:
    """Lines like server_audit's: same length, each with its own server-wide query id."""
    with open(path, "ab") as handle:
        for _ in range(lines):
            handle.write(LINE.replace(b"000001", b"%06d" % next(_query_ids)))


def rotate(audit_dir: Path, rotations: int) -> None:
    """What server_audit does: .N-1 -> .N ... .1 -> .2, log -> .1; the oldest beyond ``rotations`` goes."""
    base = audit_dir / "server_audit.log"
    (audit_dir / f"server_audit.log.{rotations}").unlink(missing_ok=True)
    for n in range(rotations - 1, 0, -1):
        src = audit_dir / f"server_audit.log.{n}"
        if src.exists():
            os.rename(src, audit_dir / f"server_audit.log.{n + 1}")
    os.rename(base, audit_dir / "server_audit.log.1")
    base.touch()


def test_bytes_written_before_the_meter_started_are_not_counted(tmp_path: Path) -> None:
    append(tmp_path / "server_audit.log", 100)
    counter = AuditCounter(tmp_path)
    counter.start()
    append(tmp_path / "server_audit.log", 3)
    counter.poll()
    assert (counter.lines, counter.bytes) == (3, 3 * len(LINE))


def test_renamed_files_are_followed_by_inode_and_counted_once(tmp_path: Path) -> None:
    append(tmp_path / "server_audit.log", 10)
    counter = AuditCounter(tmp_path)
    counter.start()
    append(tmp_path / "server_audit.log", 5)  # the tail of the file that is about to rotate
    rotate(tmp_path, rotations=3)
    append(tmp_path / "server_audit.log", 7)
    counter.poll()
    counter.poll()  # polling again adds nothing
    rotate(tmp_path, rotations=3)
    append(tmp_path / "server_audit.log", 2)
    counter.poll()
    assert counter.lines == 5 + 7 + 2
    assert counter.bytes == 14 * len(LINE)


def test_a_file_deleted_after_a_poll_keeps_its_count_and_its_reused_inode_is_a_new_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "server_audit.log").touch()
    counter = AuditCounter(tmp_path)
    counter.start()
    for _ in range(4):  # rotations=1: every rotation deletes the previous .1
        append(tmp_path / "server_audit.log", 4)
        counter.poll()
        rotate(tmp_path, rotations=1)
    counter.poll()
    assert counter.lines == 16
    assert counter.bytes == 16 * len(LINE)


def test_the_meter_reports_every_instance_with_its_role(tmp_path: Path) -> None:
    writer, reader = tmp_path / "w", tmp_path / "r"
    writer.mkdir()
    reader.mkdir()
    with AuditMeter({"w-1": ("writer", writer), "r-1": ("reader", reader)}, interval_s=0.01) as meter:
        append(writer / "server_audit.log", 2)
    results = {entry.role: entry for entry in meter.results()}
    assert (results["writer"].instance_id, results["writer"].lines) == ("w-1", 2)
    assert (results["reader"].lines, results["reader"].bytes) == (0, 0)
