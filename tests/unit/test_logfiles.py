"""The two naming schemes over a directory that is renamed the way MariaDB's server_audit rotates."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.local.emulator.logfiles import AuditDirectory
from labkit.local.emulator.portions import make_marker, parse_marker, read_portion
from tests.support.rotation import rotate_files


def test_aurora_names_follow_the_file_across_renames_and_vanish_at_retention(tmp_path: Path) -> None:
    audit = AuditDirectory(tmp_path, "aurora", clock=lambda: 1_795_708_200.0)
    (tmp_path / "server_audit.log").write_bytes(b"first file\n")
    [first] = audit.files()
    assert first.name == "audit/audit.log.0.2026-11-26-15-50.0"
    rotate_files(tmp_path, keep=2)
    (tmp_path / "server_audit.log").write_bytes(b"second file\n")
    names = {f.name: f.path.name for f in audit.files()}
    assert names == {
        first.name: "server_audit.log.1",
        "audit/audit.log.0.2026-11-26-15-50.1": "server_audit.log",
    }
    rotate_files(tmp_path, keep=2)
    rotate_files(tmp_path, keep=2)  # the first file is deleted now
    assert first.name not in {f.name for f in audit.files()}


def test_rds_mysql_names_are_the_files_on_disk(tmp_path: Path) -> None:
    audit = AuditDirectory(tmp_path, "rds-mysql")
    (tmp_path / "server_audit.log").write_bytes(b"a\n")
    rotate_files(tmp_path, keep=3)
    rotate_files(tmp_path, keep=3)
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
            rotate_files(tmp_path, keep=10_000)
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


def test_concurrent_listings_of_a_growing_rotating_directory_give_each_file_one_name(tmp_path: Path) -> None:
    """Issue 15 finding 5: DescribeDBLogFiles, downloads and the deletion watcher list one directory on
    several threads. A listing that looked at the disk before another one took effect used to apply its
    older (smaller) sizes and rename the live file: 4,821 names for one file with 5 threads."""
    import threading

    # GIVEN a server_audit stand-in that appends to the active file and rotates it (2 kept, the oldest
    # deleted, so inodes are freed and reused) while four threads list the directory
    audit = AuditDirectory(tmp_path, "aurora")
    (tmp_path / "server_audit.log").write_bytes(b"20261126 15:00:00,generation 0\n")
    generations = 1
    done = threading.Event()
    seen: list[set[str]] = [set() for _ in range(4)]
    errors: list[BaseException] = []

    def write_and_rotate() -> None:
        nonlocal generations
        try:
            for n in range(1, 120):
                for line in range(20):
                    with open(tmp_path / "server_audit.log", "ab") as handle:
                        handle.write(f"20261126 15:00:01,generation {n - 1} line {line}\n".encode())
                rotate_files(tmp_path, keep=2)
                (tmp_path / "server_audit.log").write_bytes(f"20261126 15:00:00,generation {n}\n".encode())
                generations += 1
        finally:
            done.set()

    def list_until_done(names: set[str]) -> None:
        try:
            while not done.is_set():
                files = audit.files()
                assert len({f.inode for f in files}) == len(files) == len({f.name for f in files})
                names.update(f.name for f in files)
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=list_until_done, args=(names,)) for names in seen]
    for thread in threads:
        thread.start()
    write_and_rotate()
    for thread in threads:
        thread.join()
    audit.close()
    assert not errors, errors
    # THEN no file got a second name: there are at most as many names as files ever created
    names = set().union(*seen)
    assert 0 < len(names) <= generations, f"{len(names)} names for {generations} files"


def test_a_deleted_file_is_let_go_at_the_next_listing_and_close_lets_go_of_all(tmp_path: Path) -> None:
    # GIVEN two named files
    audit = AuditDirectory(tmp_path, "aurora")
    (tmp_path / "server_audit.log").write_bytes(b"20261126 15:00:00,a\n")
    rotate_files(tmp_path, keep=1)
    (tmp_path / "server_audit.log").write_bytes(b"20261126 15:00:00,b\n")
    assert len(audit.files()) == 2
    old = (tmp_path / "server_audit.log.1").stat()
    assert _held_by_us(old), "a named file's inode is held, so it cannot be reused while the name lives"
    # WHEN MariaDB deletes the older one, THEN the next listing lets go of it (its space is freed)
    rotate_files(tmp_path, keep=1)
    assert _held_by_us(old)
    assert len(audit.files()) == 2
    assert not _held_by_us(old)
    # AND close() lets go of every file
    audit.close()
    assert not any(_held_by_us(p.stat()) for p in tmp_path.iterdir())


def _held_by_us(st: os.stat_result) -> bool:
    for fd in os.listdir("/proc/self/fd"):
        try:
            held = os.fstat(int(fd))
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False
