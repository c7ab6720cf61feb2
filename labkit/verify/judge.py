"""`labkit verify`'s judgement of one instance: its backups, listed source files and tracked items, joined
into rows (one per file) and each row's findings. The evidence comes from ``evidence``; the table is
read only for LOST accounting and to tell pending from missing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from labkit.backup import table as t
from labkit.verify.evidence import (  # the kinds of finding; LOST is one too (see passed(accept_lost))
    DUPLICATED,
    FAILED,
    LOST,
    MISATTRIBUTED,
    MISSING,
    UNDETECTED,
    Backup,
    Source,
    fingerprints,
    head_matches_id,
    id_is_content_keyed,
    prefix_sha,
)

PENDING_STATES = (t.DETECTED, t.COPYING, t.PARTIAL)


@dataclass
class FileCheck:
    """One row: a backed-up identity, a source file, or a tracked item (joined when they are one file)."""

    instance_id: str
    file_id: str
    name: str
    state: str  # the table's state, or UNTRACKED when the table has no item for it
    size: int  # bytes the source has (or had, as last recorded)
    copied_bytes: int = 0  # the table's claim, shown for comparison only
    s3_bytes: int = 0
    parts: int = 0
    compressed_bytes: int = 0
    source_checked: bool = False  # bytes compared with the source's complete download
    missing: int = 0  # bytes the source has (or had) that S3 lacks, beyond what is legitimately pending
    duplicated: int = 0  # bytes held twice (overlapping parts, or the same bytes under another identity)
    pending: int = 0  # bytes of a live file not copied yet (backup lag, not loss)
    lost_bytes: int = 0
    lost_exact: bool = True  # False: ``lost_bytes`` is a lower bound (it vanished before its end was known)
    status: str = ""  # backed up | pending | rotated out | lost | problem
    kinds: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def flag(self, kind: str, problem: str) -> None:
        self.kinds.add(kind)
        self.problems.append(problem)


class InstanceJudge:
    """Joins one instance's backups, current source files and table items into rows, and judges them."""

    def __init__(
        self,
        instance_id: str,
        items: list[dict[str, Any]],
        backups: list[Backup],
        s3: Any,
        bucket: str,
        scheme: str = "",
    ) -> None:
        self.instance_id, self.s3, self.bucket = instance_id, s3, bucket
        self.items = {i["sk"]: i for i in items}
        self.backups = {b.file_id: b for b in backups}
        schemes = {scheme, *(i.get("scheme") for i in items)} | {
            "rds-mysql" if "@" in b.file_id else "aurora" for b in backups
        }
        self.scheme = "rds-mysql" if "rds-mysql" in schemes else "aurora"
        self.rows: dict[str, FileCheck] = {}
        self.settled: set[str] = set()  # identities already judged against a listed source
        self.recent_ms = 0

    def row(self, file_id: str, name: str = "", size: int = 0) -> FileCheck:
        if file_id not in self.rows:
            item = self.items.get(file_id)
            self.rows[file_id] = FileCheck(
                self.instance_id,
                file_id,
                name or (item["log_file_name"] if item else ""),
                item["state"] if item else "UNTRACKED",
                size or (int(item["size"]) if item else 0),
                int(item["copied_bytes"]) if item else 0,
            )
            if item and item["state"] == t.FAILED:
                self.rows[file_id].flag(
                    FAILED,
                    f"copy FAILED after {item.get('failures', '?')} attempts: {item.get('last_error', '')}",
                )
        return self.rows[file_id]

    def run(self, sources: list[Source] | None, recent_ms: int) -> None:
        """``recent_ms``: a file last written at or after this may not have been scanned yet."""
        self.recent_ms = recent_ms
        for backup in self.backups.values():
            self._judge_parts(backup)
        self._judge_sources(sources or [])
        self._judge_without_source()
        for item in self.items.values():
            if item["sk"] not in self.rows:
                self._judge_untouched_item(item)
        for r in self.rows.values():
            r.status = r.status or ("problem" if r.problems else "backed up")
            if r.problems and r.status != "lost":
                r.status = "problem"

    # -- S3 side ---------------------------------------------------------------------------------------
    def _judge_parts(self, b: Backup) -> None:
        r = self.row(b.file_id, b.source_name)
        r.s3_bytes, r.parts, r.compressed_bytes = b.s3_bytes, len(b.keys), b.compressed_bytes
        for kind, problem in b.problems:
            r.flag(kind, problem)
        r.missing += b.gap_bytes
        r.duplicated += b.overlap_bytes
        item = self.items.get(b.file_id)
        if b.head is None:
            if b.broken or id_is_content_keyed(b.file_id):
                r.flag(
                    MISSING, "its bytes do not start with a whole first line: the file cannot be identified"
                )
            return  # else an aurora file copied while its first line was being written: judged by name
        if not head_matches_id(b.first, b.file_id):
            r.flag(MISATTRIBUTED, "the bytes under this identity begin with another file's first line")
        elif item and item.get("head_sha") and item["head_sha"] not in fingerprints(b.first):
            r.flag(
                MISATTRIBUTED, "the bytes under this identity begin with another line than its item records"
            )

    def _rank(self, b: Backup) -> tuple[bool, bool, int, str]:
        """Which of several identities holding one file's bytes is its backup (the others duplicate it):
        a content-keyed id first, then one the table tracks, then the longest."""
        keyed = id_is_content_keyed(b.file_id) and head_matches_id(b.first, b.file_id)
        return not keyed, b.file_id not in self.items, -b.covered, b.file_id

    # -- source side -----------------------------------------------------------------------------------
    def _judge_sources(self, sources: list[Source]) -> None:
        # which backups hold a listed file's first bytes exactly (a broken backup - gap, overlap, corrupt
        # part - is flagged already and still stands for the file whose first line it holds)
        equal = {s.name: [b for b in self.backups.values() if self._holds(s, b)] for s in sources}
        matched = {b.file_id for found in equal.values() for b in found}
        heads = {s.head: s.name for s in sources if s.head is not None}
        for s in sources if self.scheme == "aurora" else []:  # aurora ids are names: the name's bytes?
            b = self.backups.get(s.name)
            if b is not None and b not in equal[s.name] and b.head != s.head:
                other = heads.get(b.head) if b.head is not None else None
                kind = MISATTRIBUTED if other else MISSING
                self.row(b.file_id).flag(
                    kind,
                    f"the bytes under {s.name} are not that file's (they begin as {other or 'no listed file'} does)",
                )
                self.settled.add(b.file_id)
        for b in self.backups.values():
            if b.file_id not in matched | self.settled and not b.broken and b.head in heads:
                self.row(b.file_id).flag(
                    MISSING,
                    f"bytes differ from {heads[b.head]}, whose first line they share ({b.covered:,} bytes in S3)",
                )
                self.settled.add(b.file_id)
        for s in sources:
            self._judge_source(s, equal[s.name])

    def _holds(self, s: Source, b: Backup) -> bool:
        """Does backup ``b`` hold the first bytes of source ``s``?"""
        same = b.covered <= s.size and s.prefix_sha.get(b.covered) == b.sha
        if s.head is not None and b.head == s.head:
            return b.broken or same
        # an aurora file copied while its first line was still being written: its name says which file
        return self.scheme == "aurora" and b.file_id == s.name and b.head is None and not b.broken and same

    def _judge_source(self, s: Source, equal: list[Backup]) -> None:
        owners = [b for b in equal if not self.row(b.file_id).kinds & {MISATTRIBUTED}]
        if not owners:
            self._judge_unbacked_source(s)
            return
        expected = s.expected_id(self.scheme)
        owners.sort(key=lambda b: (b.file_id != expected, *self._rank(b)))
        owner, *doubles = owners
        self.settled.update(b.file_id for b in owners)
        r = self.row(owner.file_id, s.name, s.size)
        r.name, r.size, r.source_checked = s.name, s.size, not owner.broken
        for b in doubles:
            d = self.row(b.file_id, s.name)
            d.size, d.source_checked = 0, True  # the source's bytes are counted once, on the owner's row
            d.duplicated += b.covered
            d.flag(DUPLICATED, f"the same {b.covered:,} bytes of {s.name} are also under {owner.file_id}")
        remaining = s.size - owner.covered
        if remaining > 0:
            self._judge_remainder(r, s, self.items.get(owner.file_id), remaining)

    def _judge_remainder(self, r: FileCheck, s: Source, item: dict[str, Any] | None, remaining: int) -> None:
        """Source bytes after what S3 holds: pending while the pipeline is (or may soon be) on it."""
        state = item["state"] if item is not None else None
        copying = item is not None and state not in (t.BACKED_UP, t.LOST) and "vanished_at" not in item
        unseen = state in (None, t.BACKED_UP) and s.last_written >= self.recent_ms  # grew since the last scan
        if copying or unseen:
            r.pending = remaining  # (a FAILED copy is flagged on its own)
            return
        r.missing += remaining
        said = "no table item tracks the file" if item is None else f"the table calls the file {state}"
        r.flag(MISSING, f"{remaining:,} source bytes after the backup, and {said}")

    def _judge_unbacked_source(self, s: Source) -> None:
        item = self._item_for(s)
        if item is not None:
            r = self.row(item["sk"], s.name, s.size)
            r.name, r.size = s.name, s.size
            self._judge_remainder(r, s, item, s.size)
            if "vanished_at" not in item and item["state"] in PENDING_STATES:
                r.status = "pending"
            return
        r = self.row(s.expected_id(self.scheme) or f"(no first line yet) {s.name}", s.name, s.size)
        if s.size == 0:
            r.status = "backed up"  # nothing to copy
        elif s.head is None or s.last_written >= self.recent_ms:
            r.pending, r.status = s.size, "pending"  # not identifiable yet, or written since the last scan
        else:
            r.missing = s.size
            r.flag(UNDETECTED, f"{s.size:,} bytes in {s.name}, never detected and not in S3")

    def _item_for(self, s: Source) -> dict[str, Any] | None:
        """The live item tracking a source file that has no backup yet (to tell pending from undetected)."""
        expected = s.expected_id(self.scheme)
        if expected in self.items:
            return self.items[expected]
        if s.head is not None:
            shas = fingerprints(s.first)
            for item in self.items.values():
                if item.get("head_sha") in shas:
                    return item
        for item in self.items.values():  # an item from before content-keyed ids: pending or not, only
            if (
                self.scheme == "rds-mysql"
                and not item.get("head_sha")
                and not id_is_content_keyed(item["sk"])
                and item["sk"] not in self.backups
                and "vanished_at" not in item
                and item["log_file_name"] == s.name
            ):
                return item
        return None

    # -- identities whose source is not listed (rotated out, vanished, instance gone) --------------------
    def _judge_without_source(self) -> None:
        gone = [b for b in self.backups.values() if b.file_id not in self.settled]
        by_head: dict[bytes, list[Backup]] = defaultdict(list)
        for b in gone:
            if b.head is not None and not self.row(b.file_id).kinds & {MISATTRIBUTED}:
                by_head[b.head].append(b)
        for group in by_head.values():
            group.sort(key=self._rank)
            owner = group[0]
            for b in group[1:]:
                d = self.row(b.file_id)
                if prefix_sha(self.s3, self.bucket, owner, b.covered) == b.sha:
                    d.duplicated += b.covered
                    d.flag(DUPLICATED, f"the same {b.covered:,} bytes are also under {owner.file_id}")
                else:
                    d.flag(
                        MISATTRIBUTED, f"begins with the first line of {owner.file_id} but holds other bytes"
                    )
        for b in gone:
            self._judge_gone(self.row(b.file_id), self.items.get(b.file_id), b.covered)

    def _judge_gone(self, r: FileCheck, item: dict[str, Any] | None, covered: int) -> None:
        if item is None:  # the table forgot it (TTL): S3's coverage is all there is
            r.size = r.size or covered
            r.status = r.status or "rotated out"
            return
        short = max(0, int(item["size"]) - covered)
        exact = bool(item.get("lost_exact", True))
        if item["state"] == t.LOST:
            r.lost_bytes, r.lost_exact = short, exact
            if not exact:  # its end was never known: S3 holding every recorded byte proves nothing
                r.status = "lost"
                r.flag(
                    LOST,
                    f"LOST: at least {short:,} bytes gone (a lower bound: it vanished before it was sealed, "
                    f"{covered:,} of the {int(item['size']):,} bytes last listed are in S3)",
                )
            elif short:
                r.status = "lost"
                unseen = " (known only from its deletion event)" if item.get("unseen") else ""
                r.flag(
                    LOST,
                    f"LOST: {short:,} of {int(item['size']):,} bytes gone before they were copied{unseen}",
                )
            else:
                r.status = "rotated out"  # called LOST, yet every byte it recorded is in S3
        elif short:
            r.missing += short
            r.flag(
                MISSING,
                f"source gone with {short:,} bytes not in S3, yet the table says {item['state']}, not LOST",
            )
        elif not r.problems:
            r.status = "rotated out"

    def _judge_untouched_item(self, item: dict[str, Any]) -> None:
        """A tracked file with no part in S3 and no listed source holding it."""
        r = self.row(item["sk"])
        if item["state"] in PENDING_STATES and "vanished_at" not in item and int(item["size"]) == 0:
            r.status = "pending"
            return
        self._judge_gone(r, item, 0)
