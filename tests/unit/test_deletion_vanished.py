"""Which files of earlier listings are gone from a later one, for MariaDB's renaming scheme (rds-mysql),
where a name is no identity: a rotation shifts every name and deletes the oldest, and the new active file
may get the deleted file's inode."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.local.emulator.logfiles import LogFile, vanished


class Server:
    """A model of server_audit's files: position 0 is active; a rotation deletes position ``keep``."""

    def __init__(self, reuse: bool) -> None:
        self.files: list[tuple[int, int]] = [(1, 100)]  # (file id, inode) by position
        self.next_id, self.next_inode, self.reuse = 2, 101, reuse
        self.free: list[int] = []

    def rotate(self, keep: int) -> None:
        if len(self.files) > keep:
            _, inode = self.files.pop(keep)
            self.free.append(inode)
        if self.reuse and self.free:
            inode = self.free.pop()
        else:
            inode, self.next_inode = self.next_inode, self.next_inode + 1
        self.files.insert(0, (self.next_id, inode))
        self.next_id += 1

    def listing(self) -> list[LogFile]:
        return [
            LogFile(f"audit/server_audit.log{f'.{p}' if p else ''}", Path("/x"), 10, 0, inode)
            for p, (_, inode) in enumerate(self.files)
        ]

    def ids(self) -> set[int]:
        return {i for i, _ in self.files}


@settings(max_examples=40, deadline=None)
@given(
    keep=st.integers(1, 4),
    steps=st.lists(st.sampled_from(["rotate", "list"]), max_size=12),
)
def test_every_listed_file_deleted_before_the_next_look_is_reported_once(keep: int, steps: list[str]) -> None:
    # GIVEN a look, then rotations with clients listing in between (inodes never reused here)
    server = Server(reuse=False)
    for _ in range(keep):
        server.rotate(keep)
    seen = server.listing()
    seen_ids = set(server.ids())
    for step in steps:
        if step == "rotate":
            server.rotate(keep)
        else:
            seen += server.listing()
            seen_ids |= server.ids()
    # WHEN the next look compares  THEN exactly the files seen and now deleted are reported, once each
    gone = vanished(seen, server.listing(), "rds-mysql")
    assert sorted(f.inode - 99 for f in gone) == sorted(seen_ids - server.ids())  # inode 100 is file 1


def test_the_new_active_file_reusing_the_deleted_files_inode_is_still_a_deletion() -> None:
    # GIVEN two files; a rotation deletes .1 and the new active file gets its inode
    server = Server(reuse=True)
    server.rotate(keep=1)
    before = server.listing()
    server.rotate(keep=1)
    assert {f.inode for f in server.listing()} == {f.inode for f in before}  # same inodes, other files
    # THEN the file that was .1 is reported, and only it
    assert [f.name for f in vanished(before, server.listing(), "rds-mysql")] == ["audit/server_audit.log.1"]


def test_aurora_names_are_identities() -> None:
    a, b = (LogFile(f"audit/audit.log.0.2026-12-04-16-00.{n}", Path("/x"), 1, 0, 7) for n in (0, 1))
    assert vanished([a, b], [b], "aurora") == [a]
    assert vanished([a, a, b], [a, b], "aurora") == []
