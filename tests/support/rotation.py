"""MariaDB server_audit's rotation on real files, the one model the tests rotate with.

:func:`rotate_files` is what server_audit does to the directory (``.keep`` deleted, ``.n`` -> ``.n+1``, the
active file -> ``.1``, a new active file). :class:`Server` adds generations on top: which file is at which
position and every byte it was given, with lines that name their file (``/*g3*/``) so S3's bytes say whose
they are. Models that keep other books (deletion records, faked inode numbers) call :func:`rotate_files` and
keep their own; tests/unit/test_deletion_vanished.py models inode reuse in memory, with no files, and keeps
its own model for that reason."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from labkit.backup.identity import head_of
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import Pipeline

ACTIVE = "server_audit.log"
GEN = re.compile(rb"/\*g(\d+)\*/")  # the generation a line names


def rotate_files(
    directory: Path, keep: int, first: bytes = b"", before_delete: Callable[[Path], None] | None = None
) -> None:
    """One server_audit rotation: .keep deleted (``before_delete`` sees it first), .n -> .n+1 for n < keep,
    the active file -> .1, and a new active file holding ``first``."""
    oldest = directory / f"{ACTIVE}.{keep}"
    if oldest.exists():
        if before_delete is not None:
            before_delete(oldest)
        oldest.unlink()
    rotated = sorted((int(p.suffix[1:]) for p in directory.glob(f"{ACTIVE}.*")), reverse=True)
    for n in rotated:
        if n < keep:
            os.rename(directory / f"{ACTIVE}.{n}", directory / f"{ACTIVE}.{n + 1}")
    if (directory / ACTIVE).exists():
        os.rename(directory / ACTIVE, directory / f"{ACTIVE}.1")
    (directory / ACTIVE).write_bytes(first)


class Server:
    """MariaDB's server_audit file handling, on real files the emulator lists: one generation per file."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory, self.keep = directory, keep
        self.gens: list[int] = [0]  # generation at position 0 (active), 1, 2, ...
        self.content: dict[int, bytes] = {0: b""}
        self.next_gen, self.line = 1, 0
        (directory / ACTIVE).touch()

    def path(self, pos: int) -> Path:
        return self.directory / (ACTIVE if pos == 0 else f"{ACTIVE}.{pos}")

    def append(self, lines: int) -> None:
        gen = self.gens[0]
        data = b"".join(audit_line(self.line + i, f"SELECT ? /*g{gen}*/") for i in range(lines))
        self.line += lines
        with open(self.path(0), "ab") as handle:
            handle.write(data)
        self.content[gen] += data

    def rotate(self) -> None:
        rotate_files(self.directory, self.keep)
        if len(self.gens) > self.keep:
            self.gens.pop()
        self.gens.insert(0, self.next_gen)
        self.content[self.next_gen] = b""
        self.next_gen += 1

    def clock_back(self, seconds: int) -> None:
        st_ = self.path(0).stat()
        os.utime(self.path(0), ns=(st_.st_atime_ns, st_.st_mtime_ns - seconds * 1_000_000_000))


def sha_of_head(data: bytes) -> str | None:
    head = head_of(data)
    return None if head is None else hashlib.sha256(head).hexdigest()


_shared: list[tuple[EmulatedAccount, Pipeline]] = []


def shared_pipeline(account: EmulatedAccount) -> Pipeline:
    """One table and bucket per test run (Hypothesis examples share the account, each its own instance)."""
    if not _shared or _shared[0][0] is not account:
        _shared[:] = [(account, Pipeline(account))]
    return _shared[0][1]
