"""How many audit lines and bytes a piece of traffic produced, per instance.

MariaDB rotates ``server_audit.log`` by renaming it to ``.1`` (and ``.1`` to ``.2`` …) and deletes the
oldest, so a file's name says nothing about which bytes are new. A file's inode survives the renames:
the meter remembers, per inode, how far it has counted, and polls often enough (every half second by
default) that a file is counted before the plugin deletes it, even under sysbench load. Once the
plugin deletes its oldest file, a new file may get the same inode number, so a file is known by its
inode *and* its first bytes (an audit file starts with a timestamped line carrying a server-wide query id).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

AUDIT_GLOB = "server_audit.log*"
_CHUNK = 1024 * 1024
_HEAD = 256  # bytes from a file's start that tell two files sharing an inode number apart


@dataclass(frozen=True)
class InstanceAudit:
    """Audit output of one instance during one measured action."""

    instance_id: str
    role: str
    lines: int
    bytes: int


@dataclass
class _FileCursor:
    offset: int  # bytes of this file already accounted for (or present before the meter started)
    head: bytes = b""  # the file's first bytes, as far as seen

    def matches(self, size: int, head: bytes) -> bool:
        """Still the same file? The plugin's files only grow, and their first bytes never change."""
        known = min(len(self.head), len(head))
        return size >= self.offset and head[:known] == self.head[:known]


@dataclass
class AuditCounter:
    """New bytes and lines in one audit directory since the counter started."""

    audit_dir: Path
    lines: int = 0
    bytes: int = 0
    cursors: dict[int, _FileCursor] = field(default_factory=dict)

    def start(self) -> None:
        """Everything already in the files is old: remember each inode's current size."""
        for path in self._files():
            try:
                with open(path, "rb") as handle:
                    st = os.fstat(handle.fileno())
                    self.cursors[st.st_ino] = _FileCursor(st.st_size, handle.read(_HEAD))
            except FileNotFoundError:
                continue

    def poll(self) -> None:
        """Count the bytes and newlines written since the last poll, following inodes across renames."""
        for path in self._files():
            try:
                handle = open(path, "rb")  # noqa: SIM115 - the open fd pins the inode we fstat
            except FileNotFoundError:
                continue  # rotated away between listing and opening; its new name is in the next listing
            with handle:
                st = os.fstat(handle.fileno())
                head = handle.read(_HEAD)
                cursor = self.cursors.get(st.st_ino)
                if cursor is None or not cursor.matches(st.st_size, head):
                    cursor = self.cursors[st.st_ino] = _FileCursor(0)  # new, perhaps reusing an inode
                cursor.head = head
                handle.seek(cursor.offset)
                while chunk := handle.read(_CHUNK):
                    self.bytes += len(chunk)
                    self.lines += chunk.count(b"\n")
                    cursor.offset += len(chunk)

    def _files(self) -> list[Path]:
        return sorted(self.audit_dir.glob(AUDIT_GLOB))


class AuditMeter:
    """Counts audit output on several instances while a block runs; poll in the background.

    >>> with AuditMeter({"writer-1": ("writer", Path("audit"))}) as meter:
    ...     make_traffic()
    >>> meter.results()
    """

    def __init__(self, instances: dict[str, tuple[str, Path]], interval_s: float = 0.5) -> None:
        self.roles = {instance_id: role for instance_id, (role, _) in instances.items()}
        self.counters = {instance_id: AuditCounter(Path(d)) for instance_id, (_, d) in instances.items()}
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AuditMeter:
        for counter in self.counters.values():
            counter.start()
        self._thread = threading.Thread(target=self._run, name="audit-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.poll()

    def poll(self) -> None:
        with self._lock:
            for counter in self.counters.values():
                counter.poll()

    def results(self) -> tuple[InstanceAudit, ...]:
        with self._lock:
            return tuple(
                InstanceAudit(instance_id, self.roles[instance_id], counter.lines, counter.bytes)
                for instance_id, counter in self.counters.items()
            )

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()
