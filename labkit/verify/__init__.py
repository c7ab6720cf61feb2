"""``labkit verify``: the independent witness of what the backup holds.

- ``reconciliation``: what S3 holds against what the source has now, per file and per identity
  (``reconcile``, ``Reconciliation``);
- ``evidence``: reading that evidence: every part decompressed and hashed, every source file downloaded;
- ``judge``: turning the evidence into one row per file and its findings;
- ``manifests``: the daily manifests' hash chain against the parts they list (``verify_manifests``);
- ``report``: the reconciliation run against a target, written as JSON and a chart for a person.

Other packages import the names below, not the modules.
"""

from __future__ import annotations

from labkit.verify.evidence import (
    DUPLICATED,
    FAILED,
    LOST,
    MISATTRIBUTED,
    MISSING,
    UNDETECTED,
    SourceUnreadableError,
)
from labkit.verify.judge import FileCheck
from labkit.verify.manifests import (
    ARCHIVED,
    CHAIN,
    FILE_CHANGED,
    NO_MANIFEST,
    PART_CHANGED,
    PART_MISSING,
    REVISION,
    REWRITTEN,
    UNLISTED,
    Finding,
    ManifestCheck,
    verify_manifests,
)
from labkit.verify.reconciliation import Reconciliation, reconcile
from labkit.verify.report import reconcile_target, reconciliation_figure, write_report

__all__ = [
    "ARCHIVED",
    "CHAIN",
    "DUPLICATED",
    "FAILED",
    "FILE_CHANGED",
    "LOST",
    "MISATTRIBUTED",
    "MISSING",
    "NO_MANIFEST",
    "PART_CHANGED",
    "PART_MISSING",
    "REVISION",
    "REWRITTEN",
    "UNDETECTED",
    "UNLISTED",
    "FileCheck",
    "Finding",
    "ManifestCheck",
    "Reconciliation",
    "SourceUnreadableError",
    "reconcile",
    "reconcile_target",
    "reconciliation_figure",
    "verify_manifests",
    "write_report",
]
