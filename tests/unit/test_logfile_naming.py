"""Property: the aurora naming gives every audit file one name for its whole life, never gives a name to a
second file, and lists each name with that file's size, whatever MariaDB's rotations do to the inodes.

Histories are generated (Hypothesis): appends (a new file's first line drawn from two, so files often share
their first 64 bytes), MariaDB rotations with 1-3 kept files (the oldest deleted), listings, and listings
overtaken by another listing (a client's DescribeDBLogFiles while the deletion watcher looks: the emulator
serves both on threads).

The files are real files on disk, renamed and deleted as server_audit does. The inode numbers are faked
(``FakeInodes``), because inode reuse cannot be forced on a real filesystem: a deleted file's inode number
is handed to a new file whenever Hypothesis chooses, but only when POSIX would allow it — the file is
unlinked and no descriptor in this process still holds it (an inode is not freed while it is open).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labkit.local.emulator.logfiles import AuditDirectory, LogFile
from tests.support.rotation import rotate_files

# two first lines of 64+ bytes that differ after byte 64 only: "two READ events of one statement"
FIRST_LINES = (
    b"20261126 02:00:00,vm,sbtest,127.0.0.1,13,388451,READ,sbtest,sbtest1,0\n",
    b"20261126 02:00:00,vm,sbtest,127.0.0.1,13,388451,READ,sbtest,sbtest2,0\n",
)
assert FIRST_LINES[0][:64] == FIRST_LINES[1][:64]


class FakeInodes:
    """The inode numbers AuditDirectory sees: real files, inode numbers chosen by the test (faked)."""

    def __init__(self) -> None:
        self.fake_of: dict[tuple[int, int], int] = {}  # real (dev, ino) -> the inode number reported
        self.real_of: dict[int, tuple[int, int] | None] = {}  # reported -> real, None once really freed
        self.unlinked: set[int] = set()
        self.next = 1_000
        # called once at the first look a listing takes at the watched file (then disarmed)
        self.on_look: tuple[tuple[int, int], Callable[[], None]] | None = None

    def __call__(self, st: os.stat_result) -> int:
        real = (st.st_dev, st.st_ino)
        if self.on_look is not None and self.on_look[0] == real:
            _, hook = self.on_look
            self.on_look = None
            hook()
        return self.fake_of[real]

    def free(self) -> list[int]:
        """Inode numbers POSIX could hand to a new file now: unlinked and not open anywhere here."""
        held = _open_inodes()
        return sorted(f for f in self.unlinked if self.real_of[f] is None or self.real_of[f] not in held)

    def created(self, path: Path, reuse: int) -> None:
        st_ = path.stat()
        real = (st_.st_dev, st_.st_ino)
        # the real disk reused a real inode: the file that had it is really gone. Only if its fake number
        # still stands for that real inode: the number may have been handed to a later file since, which a
        # descriptor may still hold (clearing it then let a held inode number be reused: a harness bug
        # Hypothesis found when the disk reused a real inode number, not a naming bug)
        old = self.fake_of.get(real)
        if old is not None and self.real_of.get(old) == real:
            self.real_of[old] = None
        free = self.free()
        if reuse < len(free):
            fake = free[reuse]
            self.unlinked.discard(fake)
        else:
            fake, self.next = self.next, self.next + 1
        self.fake_of[real], self.real_of[fake] = fake, real

    def deleting(self, path: Path) -> None:
        st_ = path.stat()
        self.unlinked.add(self.fake_of[(st_.st_dev, st_.st_ino)])


def _open_inodes() -> set[tuple[int, int]]:
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            st_ = os.fstat(int(fd))
        except OSError:
            continue  # the descriptor listdir itself used
        held.add((st_.st_dev, st_.st_ino))
    return held


class Server:
    """server_audit's file handling on real files: generation g is one file, from creation to deletion."""

    def __init__(self, directory: Path, keep: int, inodes: FakeInodes) -> None:
        self.directory, self.keep, self.inodes = directory, keep, inodes
        self.gens: list[int] = []  # generation at position 0 (active), 1, 2, ...
        self.content: dict[int, bytes] = {}
        self.next_gen = self.token = 0
        self._create(reuse=0)

    def path(self, pos: int) -> Path:
        return self.directory / ("server_audit.log" if pos == 0 else f"server_audit.log.{pos}")

    def _create(self, reuse: int) -> None:
        self.path(0).touch()
        self.inodes.created(self.path(0), reuse)
        self.gens.insert(0, self.next_gen)
        self.content[self.next_gen] = b""
        self.next_gen += 1

    def append(self, lines: int, first: int) -> None:
        gen = self.gens[0]
        data = b"" if self.content[gen] else FIRST_LINES[first]
        for _ in range(lines):
            self.token += 1
            data += (
                f"20261126 02:00:01,vm,sbtest,127.0.0.1,13,{self.token},QUERY,sbtest,'SELECT 1',0\n".encode()
            )
        with open(self.path(0), "ab") as handle:
            handle.write(data)
        self.content[gen] += data

    def rotate(self, reuse: int) -> None:
        rotate_files(self.directory, self.keep, before_delete=self.inodes.deleting)
        if len(self.gens) > self.keep:
            self.gens.pop()
        self._create(reuse)


class Observer:
    """What the listings said so far, checked against the files really on disk."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.name_of: dict[int, str] = {}  # generation -> its name
        self.gen_of: dict[str, int] = {}  # name -> the one generation it was ever given to

    def check(self, files: list[LogFile], sizes: dict[int, tuple[int, int]]) -> None:
        """``sizes``: each live generation's size when the listing began and when it answered."""
        s = self.server
        gen_at = {s.path(pos).name: gen for pos, gen in enumerate(s.gens)}
        assert sorted(f.path.name for f in files) == sorted(gen_at), "a file hidden or listed twice"
        for f in files:
            gen = gen_at[f.path.name]
            assert self.name_of.setdefault(gen, f.name) == f.name, (
                f"file g{gen} was {self.name_of[gen]}, now listed as {f.name}"
            )
            assert self.gen_of.setdefault(f.name, gen) == gen, (
                f"{f.name} was file g{self.gen_of[f.name]}, now given to file g{gen}"
            )
            low, high = sizes[gen]
            assert low <= f.size <= high, (
                f"{f.name} (g{gen}) listed at {f.size} bytes, the file had {low}-{high}"
            )

    def sizes(self) -> dict[int, int]:
        return {gen: len(self.server.content[gen]) for gen in self.server.gens}


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 3), st.integers(0, 1)),
        st.tuples(st.just("rotate"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("list"), st.just(0), st.just(0)),
        st.tuples(st.just("overtaken"), st.integers(1, 3), st.just(0)),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=int(os.environ.get("LABKIT_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(keep=st.integers(1, 3), ops=operations)
# a deleted file's inode reused by a new file with the same first 64 bytes that outgrows it before a look
@example(
    keep=1,
    ops=[
        ("append", 1, 0),
        ("list", 0, 0),
        ("rotate", 0, 0),
        ("rotate", 0, 0),
        ("append", 1, 1),
        ("list", 0, 0),
    ],
)
# a listing that looked at the disk before another listing, and answers after it
@example(keep=1, ops=[("append", 1, 0), ("overtaken", 1, 0), ("list", 0, 0)])
def test_a_name_is_one_file_for_its_whole_life(
    tmp_path_factory, keep: int, ops: list[tuple[str, int, int]]
) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("audit")
    inodes = FakeInodes()
    server = Server(directory, keep, inodes)
    audit = AuditDirectory(directory, "aurora", inode_of=inodes)
    observer = Observer(server)
    for op, a, b in ops:
        if op == "append":
            server.append(a, b)
        elif op == "rotate":
            server.rotate(reuse=a)
        elif op == "list":
            now = observer.sizes()
            observer.check(audit.files(), {g: (n, n) for g, n in now.items()})
        else:
            overtaken(audit, server, observer, a)
    final = observer.sizes()
    observer.check(audit.files(), {g: (n, n) for g, n in final.items()})


def overtaken(audit: AuditDirectory, server: Server, observer: Observer, lines: int) -> None:
    """A listing that has looked at the active file when the file grows and another listing answers."""
    active = server.path(0).stat()
    before = observer.sizes()

    def meanwhile() -> None:
        server.append(lines, 0)
        now = observer.sizes()
        observer.check(audit.files(), {g: (n, n) for g, n in now.items()})

    audit_inodes = audit._inode_of
    assert isinstance(audit_inodes, FakeInodes)
    audit_inodes.on_look = ((active.st_dev, active.st_ino), meanwhile)
    files = audit.files()
    assert audit_inodes.on_look is None, "the listing never looked at the active file"
    after = observer.sizes()
    observer.check(files, {g: (before[g], after[g]) for g in after})
