"""The two naming schemes over a directory that is renamed the way MariaDB's server_audit rotates."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.local.logfiles import AuditDirectory, make_marker, parse_marker, read_portion


def rotate(directory: Path, keep: int) -> None:
    """What server_audit does at rotation: .N-1 -> .N ... log -> .1, the oldest beyond `keep` deleted."""
    oldest = directory / f"server_audit.log.{keep}"
    oldest.unlink(missing_ok=True)
    rotated = sorted((int(p.suffix[1:]) for p in directory.glob("server_audit.log.*")), reverse=True)
    for n in rotated:
        if n < keep:
            os.rename(directory / f"server_audit.log.{n}", directory / f"server_audit.log.{n + 1}")
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    (directory / "server_audit.log").write_bytes(b"")


def test_aurora_names_follow_the_file_across_renames_and_vanish_at_retention(tmp_path: Path) -> None:
    audit = AuditDirectory(tmp_path, "aurora", clock=lambda: 1_795_708_200.0)
    (tmp_path / "server_audit.log").write_bytes(b"first file\n")
    [first] = audit.files()
    assert first.name == "audit/audit.log.0.2026-11-26-15-50.0"
    rotate(tmp_path, keep=2)
    (tmp_path / "server_audit.log").write_bytes(b"second file\n")
    names = {f.name: f.path.name for f in audit.files()}
    assert names == {
        first.name: "server_audit.log.1",
        "audit/audit.log.0.2026-11-26-15-50.1": "server_audit.log",
    }
    rotate(tmp_path, keep=2)
    rotate(tmp_path, keep=2)  # the first file is deleted now
    assert first.name not in {f.name for f in audit.files()}


def test_rds_mysql_names_are_the_files_on_disk(tmp_path: Path) -> None:
    audit = AuditDirectory(tmp_path, "rds-mysql")
    (tmp_path / "server_audit.log").write_bytes(b"a\n")
    rotate(tmp_path, keep=3)
    rotate(tmp_path, keep=3)
    assert [f.name for f in audit.files()] == [
        "audit/server_audit.log.2",
        "audit/server_audit.log.1",
        "audit/server_audit.log",
    ]


def test_a_reused_inode_gets_a_new_aurora_name(tmp_path: Path) -> None:
    audit = AuditDirectory(tmp_path, "aurora")
    path = tmp_path / "server_audit.log"
    path.write_bytes(b"20261126 15:00:00,one\n")
    [before] = audit.files()
    inode = path.stat().st_ino
    path.write_bytes(b"20261126 16:00:00,two\n")  # same inode, other content from its first byte
    [after] = audit.files()
    assert path.stat().st_ino == inode and after.name != before.name


def test_markers_are_opaque_but_round_trip(tmp_path: Path) -> None:
    assert parse_marker("0") == 0
    assert parse_marker(make_marker(3_000_000)) == 3_000_000
    path = tmp_path / "f"
    path.write_bytes(b"line one\nline two\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        portion = read_portion(fd, "0", None, cap=12)  # a cap smaller than the file: cut at a line end
        assert portion.data == b"line one\n" and portion.pending
        rest = read_portion(fd, portion.marker, None, cap=12)
        assert rest.data == b"line two\n" and not rest.pending
    finally:
        os.close(fd)


def test_listings_taken_while_mariadb_rotates_never_rename_or_hide_a_file(tmp_path: Path) -> None:
    import threading
    import time

    # GIVEN a thread rotating the directory as fast as it can (as server_audit does at a tiny rotate size)
    audit = AuditDirectory(tmp_path, "aurora")
    (tmp_path / "server_audit.log").write_bytes(b"20261126 15:00:00,line 0\n")
    stop = threading.Event()

    def rotate_forever() -> None:
        n = 0
        while not stop.is_set() and n < 150:
            n += 1
            rotate(tmp_path, keep=10_000)
            (tmp_path / "server_audit.log").write_bytes(f"20261126 15:00:00,line {n}\n".encode())
            time.sleep(0.002)  # still hundreds of rotations a second: far more than MariaDB does

    rotator = threading.Thread(target=rotate_forever)
    rotator.start()
    name_of: dict[int, str] = {}
    listings = 0
    try:
        while rotator.is_alive():
            files = audit.files()
            listings += 1
            # THEN each listing holds every inode once, and an inode keeps its name from listing to listing
            assert len({f.inode for f in files}) == len(files) == len({f.name for f in files})
            for f in files:
                assert name_of.setdefault(f.inode, f.name) == f.name
            assert len(files) >= len(name_of) - 1  # none hidden (the newest may not be listed yet)
    finally:
        stop.set()
        rotator.join()
    assert listings > 10
