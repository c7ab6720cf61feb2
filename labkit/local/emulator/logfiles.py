"""RDS's view of the audit files MariaDB really writes, in either naming scheme (paging: ``portions``).

MariaDB's server_audit plugin writes ``server_audit.log`` and, at every rotation, renames it to ``.1``
(shifting ``.1`` to ``.2`` ... and deleting the oldest). That *is* the ``rds-mysql`` scheme. The ``aurora``
scheme gives each file a name for its whole life (``audit/audit.log.0.2026-11-26-15-30.0``): the name follows
the file's inode across MariaDB's renames and disappears when MariaDB deletes the file.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

AUDIT_BASENAME = "server_audit.log"
_FINGERPRINT = 64  # first bytes that tell a reused inode from the file that had it before
_PATIENCE = 1_000  # looks at a directory MariaDB keeps renaming in before a listing gives up (about 50 s)
_ROTATED = re.compile(re.escape(AUDIT_BASENAME) + r"(?:\.(\d+))?")


class AuditFiles(Protocol):
    """What the emulator serves an instance's audit files from: one :class:`AuditDirectory`, or an Aurora
    instance's several concurrently written ones (:class:`labkit.local.emulator.aurora_files.AuroraAuditFiles`)."""

    scheme: str
    remember_listings: bool

    def files(self) -> list[LogFile]: ...
    def listed_since(self) -> list[LogFile]: ...
    def find(self, name: str) -> LogFile | None: ...
    def open(self, name: str) -> tuple[LogFile, int] | None: ...
    def close(self) -> None: ...
    def naming_state(self) -> dict[str, Any]: ...
    def restore_naming(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LogFile:
    """One audit file as DescribeDBLogFiles lists it, and where it is on disk right now."""

    name: str
    path: Path
    size: int
    last_written_ms: int
    inode: int


class AuditDirectory:
    """One DB instance's audit directory seen through a naming scheme; safe to share between threads."""

    def __init__(
        self,
        directory: Path,
        scheme: str,
        clock: Callable[[], float] = time.time,
        inode_of: Callable[[os.stat_result], int] | None = None,
        *,
        stream: int = 0,
    ) -> None:
        self.directory = Path(directory)
        self.scheme = scheme
        # aurora scheme: which of the instance's concurrently written files this is (audit.log.<stream>...)
        self.stream = stream
        self._clock = clock
        # the inode number of a stat result: a test seam only (inode reuse cannot be forced on a real disk)
        self._inode_of = inode_of or _real_inode
        self._lock = threading.Lock()
        # aurora scheme: (dev, inode) -> the name and what identifies that file
        self._names: dict[tuple[int, int], _Identity] = {}
        # aurora scheme: a descriptor held on every named file, so its inode cannot be handed to a new file
        # while the name lives (POSIX frees an inode only when no descriptor holds it); closed when a
        # listing no longer finds the file, or by close()
        self._held: dict[tuple[int, int], int] = {}
        self._finalizer = weakref.finalize(self, _close_all, self._held)
        # bumped by every listing that takes effect: a listing that looked at the disk before another one
        # took effect is stale (its sizes are older) and looks again rather than rename a live file
        self._generation = 0
        self._minute_counts: dict[str, int] = {}
        # set by the deletion watcher: every listing (DescribeDBLogFiles included) is remembered until it
        # takes them, so a file a client saw is never created and deleted unseen between two of its looks
        self.remember_listings = False
        self._listed: dict[str | int, LogFile] = {}

    def files(self) -> list[LogFile]:
        """The files RDS would list now, oldest first (remembered for the deletion watcher when it asks)."""
        listed = self._files()
        if self.remember_listings:
            with self._lock:
                self._listed = _merged(self.scheme, [*self._listed.values(), *listed])
        return listed

    def listed_since(self) -> list[LogFile]:
        """Every file listed since the last call (by any caller): what a client could be tracking."""
        with self._lock:
            listed, self._listed = list(self._listed.values()), {}
        return listed

    def _files(self) -> list[LogFile]:
        """The files RDS would list now, oldest first.

        MariaDB renames files while we look: a listing is only used when two scans in a row agree (a
        rename between them could otherwise show one file twice, or hide one — which a backup would read
        as a vanished file), and a file's first bytes are read through the inode that was listed. Listings
        run concurrently (DescribeDBLogFiles, downloads, the deletion watcher): one that another listing
        overtook looks again.
        """
        changes = 0
        while True:
            with self._lock:
                generation = self._generation
            on_disk = self._scan()
            if self.scheme == "rds-mysql":
                if self._same_listing(on_disk, self._scan()):
                    return [
                        LogFile(
                            f"audit/{path.name}", path, st.st_size, _ms(st.st_mtime_ns), self._inode_of(st)
                        )
                        for path, st in on_disk
                    ]
            else:
                opened = [self._open_head(path, self._inode_of(st)) for path, st in on_disk]
                heads = [o for o in opened if o is not None]
                if len(heads) == len(on_disk) and self._same_listing(on_disk, self._scan()):
                    files = self._aurora_view(on_disk, heads, generation)
                    if files is not None:
                        return files
                    continue  # overtaken by another listing: look again at once
                _close_all({i: fd for i, (fd, _) in enumerate(heads)})
            changes += 1  # renamed meanwhile: look again, a little later each time
            if changes > _PATIENCE:
                raise RuntimeError(f"{self.directory}: the audit files kept changing while being listed")
            time.sleep(min(0.001 * changes, 0.05))

    def _aurora_view(
        self, on_disk: list[tuple[Path, os.stat_result]], heads: list[tuple[int, bytes]], generation: int
    ) -> list[LogFile] | None:
        """Apply one look at the disk; None (descriptors closed) when another listing took effect since."""
        with self._lock:
            if generation != self._generation:
                _close_all({i: fd for i, (fd, _) in enumerate(heads)})
                return None
            self._generation += 1
            live: dict[tuple[int, int], _Identity] = {}
            held: dict[tuple[int, int], int] = {}
            files = []
            for (path, st), (fd, head) in zip(on_disk, heads, strict=True):
                key = (st.st_dev, self._inode_of(st))
                known = self._names.get(key)
                if known is None or not known.same_file(head, st.st_size):
                    known = _Identity(self._new_aurora_name(), head, st.st_size)
                live[key] = _Identity(known.name, max(known.head, head, key=len), st.st_size)
                files.append(LogFile(known.name, path, st.st_size, _ms(st.st_mtime_ns), key[1]))
                held[key] = self._held.pop(key, fd)
                if held[key] != fd:
                    os.close(fd)  # already held since an earlier listing
            _close_all(self._held)  # files gone from the disk: their inodes may now be reused
            self._names = live  # deleted files take their names with them
            self._held.update(held)
        return files

    def close(self) -> None:
        """Let go of the descriptors held on named files (also done when the object is collected)."""
        with self._lock:
            self._finalizer()
            self._finalizer = weakref.finalize(self, _close_all, self._held)  # for any later listing

    def naming_state(self) -> dict[str, Any]:
        """The aurora names handed out so far, as JSON: a restarted lab must give each file the name it
        had (:mod:`labkit.local.snapshot`), or every file would look new and be copied again."""
        with self._lock:
            return {
                "names": [
                    [dev, ino, ident.name, ident.head.hex(), ident.size]
                    for (dev, ino), ident in self._names.items()
                ],
                "minute_counts": dict(self._minute_counts),
            }

    def restore_naming(self, state: dict[str, Any]) -> None:
        """Take back :meth:`naming_state`'s names (before the first listing); a file whose inode now holds
        other bytes gets a new name at the next listing, as after any reuse."""
        with self._lock:
            self._names = {
                (int(dev), int(ino)): _Identity(str(name), bytes.fromhex(head), int(size))
                for dev, ino, name, head, size in state.get("names", [])
            }
            self._minute_counts = {str(k): int(v) for k, v in state.get("minute_counts", {}).items()}
            self._generation += 1

    def find(self, name: str) -> LogFile | None:
        for log_file in self.files():
            if log_file.name == name:
                return log_file
        return None

    def open(self, name: str) -> tuple[LogFile, int] | None:
        """Open a listed file; the descriptor stays on that file even if MariaDB renames it meanwhile."""
        for _ in range(5):
            log_file = self.find(name)
            if log_file is None:
                return None
            try:
                fd = os.open(log_file.path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # renamed between listing and opening: look again
            if self.scheme == "rds-mysql" or self._inode_of(os.fstat(fd)) == log_file.inode:
                return log_file, fd
            os.close(fd)
        return None

    def _scan(self) -> list[tuple[Path, os.stat_result]]:
        found = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            match = _ROTATED.fullmatch(entry.name)
            if not match:
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            found.append((int(match.group(1) or 0), Path(entry.path), st))
        # Oldest first: server_audit.log.N is older the larger N is; the active file (no suffix) is newest.
        found.sort(key=lambda item: (item[0] == 0, -item[0]))
        return [(path, st) for _, path, st in found]

    def _open_head(self, path: Path, inode: int) -> tuple[int, bytes] | None:
        """A descriptor on the file with this inode and its first bytes; None when the name now belongs to
        another file (the caller owns the descriptor)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if self._inode_of(os.fstat(fd)) == inode:
                return fd, os.pread(fd, _FINGERPRINT, 0)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return None

    def _same_listing(
        self, a: list[tuple[Path, os.stat_result]], b: list[tuple[Path, os.stat_result]]
    ) -> bool:
        return [(p.name, self._inode_of(st)) for p, st in a] == [(p.name, self._inode_of(st)) for p, st in b]

    def _new_aurora_name(self) -> str:
        minute = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(self._clock()))
        n = self._minute_counts.get(minute, 0)
        self._minute_counts[minute] = n + 1
        return f"audit/audit.log.{self.stream}.{minute}.{n}"


def _close_all(descriptors: dict[Any, int]) -> None:
    for fd in descriptors.values():
        os.close(fd)
    descriptors.clear()


def _merged(scheme: str, files: list[LogFile]) -> dict[str | int, LogFile]:
    """One entry per file: by name (aurora), or by inode at its highest position seen (rds-mysql)."""
    merged: dict[str | int, LogFile] = {}
    for f in files:
        key: str | int = f.inode if scheme == "rds-mysql" else f.name
        known = merged.get(key)
        if known is None or _position(f.name) >= _position(known.name):
            merged[key] = f
    return merged


def vanished(before: list[LogFile], after: list[LogFile], scheme: str) -> list[LogFile]:
    """Files of listing ``before`` deleted by the time of ``after``.

    aurora: a name is a file for its whole life (AuditDirectory follows it across renames and gives a
    reused inode a new name), so a name gone is a file gone. rds-mysql: names shift at every rotation, so
    a file is its inode; it only ever moves to a higher position (``.1`` -> ``.2``), so an inode gone, or
    found at a lower position (the new active file reusing a deleted file's inode), is a deletion. Limit: a
    reused inode that climbs back to the deleted file's position before the next look hides that deletion
    (several rotations within one watch interval); the next scan still calls the file vanished."""
    before = list(_merged(scheme, before).values())
    if scheme != "rds-mysql":
        names = {f.name for f in after}
        return [f for f in before if f.name not in names]
    now = {f.inode: _position(f.name) for f in after}
    return [f for f in before if f.inode not in now or now[f.inode] < _position(f.name)]


def _position(name: str) -> int:
    match = _ROTATED.fullmatch(name.rpartition("/")[2])
    return int(match.group(1) or 0) if match else 0


def _ms(mtime_ns: int) -> int:
    return mtime_ns // 1_000_000


def _real_inode(st: os.stat_result) -> int:
    return st.st_ino


@dataclass(frozen=True)
class _Identity:
    """An audit file only grows: a smaller size or other first bytes at the same inode is another file."""

    name: str
    head: bytes
    size: int

    def same_file(self, head: bytes, size: int) -> bool:
        shorter = min(len(self.head), len(head))
        return size >= self.size and self.head[:shorter] == head[:shorter]
