"""Reconciliation, as an independent witness: what S3 holds against what the source has now.

The evidence is S3 alone (every part is decompressed, hashed and checked against the sha256 and byte range
it records) and the current source listing with each file's complete download. Parts are grouped by the
identity in their key; an identity is tied to a source file by content (the first line of its bytes equals
the file's head, and the bytes equal the file's prefix), never by name alone. The tracking table is read only
to count LOST files and to know which files are still legitimately pending, or were fully copied before they
rotated out.

Per source file and per backed-up identity it reports: coverage (parts tile from byte 0, no gap, no overlap),
bytes equal to the source, the same bytes under two identities, bytes under an identity that belong to another
file, source files with no backup (pending vs never detected), identities whose source is gone, and LOST files
with their lost bytes (exact, or a lower bound for a file that vanished before it was sealed), and every
recorded gap: a window in which files may have been created and deleted unseen. A gap is not clean; it passes
only once acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.backup import gaps
from labkit.backup import table as t
from labkit.backup.rdslogs import DEFAULT_COMPLETE, CompleteDownload
from labkit.verify.evidence import (  # the kinds of finding; LOST is one too (see passed(accept_lost))
    DUPLICATED,
    FAILED,
    LOST,
    MISATTRIBUTED,
    MISSING,
    UNDETECTED,
    read_backups,
    read_sources,
)
from labkit.verify.judge import FileCheck, InstanceJudge

__all__ = ["FileCheck", "Reconciliation", "reconcile"]


@dataclass
class Reconciliation:
    files: list[FileCheck]
    gaps: list[dict[str, Any]] = field(default_factory=list)  # windows files may have come and gone unseen

    @property
    def unacknowledged_gaps(self) -> list[dict[str, Any]]:
        return [g for g in self.gaps if "acknowledged_at" not in g]

    def _with(self, kind: str) -> list[FileCheck]:
        return [f for f in self.files if kind in f.kinds]

    @property
    def missing(self) -> list[FileCheck]:
        return self._with(MISSING)

    @property
    def duplicated(self) -> list[FileCheck]:
        return self._with(DUPLICATED)

    @property
    def misattributed(self) -> list[FileCheck]:
        return self._with(MISATTRIBUTED)

    @property
    def undetected(self) -> list[FileCheck]:
        return self._with(UNDETECTED)

    @property
    def failed(self) -> list[FileCheck]:
        return self._with(FAILED)

    @property
    def lost(self) -> list[FileCheck]:
        return self._with(LOST)

    @property
    def clean(self) -> bool:
        """Every byte accounted for: no problem and no gap (acknowledged or not: bytes may be unaccounted)."""
        return all(f.ok for f in self.files) and not self.gaps

    def passed(self, accept_lost: bool = False) -> bool:
        """Clean, or (with ``accept_lost``) nothing wrong but acknowledged LOST files; a gap passes only
        once an operator has acknowledged it (``labkit gaps --ack``)."""
        files_ok = all(f.ok or (accept_lost and f.kinds == {LOST}) for f in self.files)
        return files_ok and not self.unacknowledged_gaps

    def summary(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "source_bytes": sum(f.size for f in self.files),
            "backed_up_bytes": sum(f.s3_bytes for f in self.files),
            "compressed_bytes": sum(f.compressed_bytes for f in self.files),
            "pending_bytes": sum(f.pending for f in self.files),
            "missing_files": len(self.missing),
            "missing_bytes": sum(f.missing for f in self.files),
            "duplicated_files": len(self.duplicated),
            "duplicated_bytes": sum(f.duplicated for f in self.files),
            "misattributed_files": len(self.misattributed),
            "undetected_files": len(self.undetected),
            "failed_files": len(self.failed),
            "rotated_out_files": sum(f.status == "rotated out" for f in self.files),
            "lost_files": len(self.lost),
            "lost_bytes": sum(f.lost_bytes for f in self.files),
            "lost_lower_bounds": sum(1 for f in self.lost if not f.lost_exact),
            "gaps": len(self.gaps),
            "unacknowledged_gaps": len(self.unacknowledged_gaps),
            "gap_known_lost_bytes": sum(int(g.get("known_lost_bytes", 0)) for g in self.gaps),
            "clean": self.clean,
        }


def reconcile(
    table: Any,
    s3: Any,
    rds: Any,
    credentials: Any,
    bucket: str,
    prefix: str,
    *,
    grace_s: float = 0.0,
    now_ms: int | None = None,
    covered: dict[str, str] | None = None,
    complete: CompleteDownload = DEFAULT_COMPLETE,
) -> Reconciliation:
    """Check every identity in S3 and every file of every instance the backup knows (table or S3), and of
    every instance in ``covered`` (instance id -> naming scheme: those the scanner should be backing up, so
    an instance it never reached shows its files as never detected).

    ``grace_s``: a source file with no table item whose LastWritten is this recent counts as not detected
    yet (pending) rather than never detected. ``complete``: how the sources are downloaded.
    """
    now_ms = t.now_ms() if now_ms is None else now_ms
    covered = covered or {}
    items, recorded_gaps = gaps.files_and_gaps(table)
    backups = read_backups(s3, bucket, prefix)
    instances = sorted({i["pk"] for i in items} | {b.instance_id for b in backups} | set(covered))
    files: list[FileCheck] = []
    for instance_id in instances:
        mine = [b for b in backups if b.instance_id == instance_id]
        judge = InstanceJudge(
            instance_id,
            [i for i in items if i["pk"] == instance_id],
            mine,
            s3,
            bucket,
            covered.get(instance_id, ""),
        )
        sources = read_sources(rds, credentials, instance_id, {b.covered for b in mine}, complete)
        judge.run(sources, now_ms - int(grace_s * 1000))
        files.extend(judge.rows.values())
    return Reconciliation(files, sorted(recorded_gaps, key=lambda g: (g["instance_id"], g["from_ms"])))
