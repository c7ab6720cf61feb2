"""Errors of the backup pipeline (importable with only the Lambda runtime's dependencies)."""

from __future__ import annotations

from labkit.errors import LabkitError


class BackupError(LabkitError):
    """Base of the pipeline's errors."""


class BadInputError(BackupError):
    """A malformed message or record: retrying cannot help, it belongs in the DLQ."""


class SourceChangedError(BackupError):
    """The source file moved or changed under a copy (rotation): the copy is discarded and retried."""


class PartMismatchError(BackupError):
    """An existing part does not start where the table says the next one starts: S3 and the table disagree.
    Counted as a failed copy (the file ends FAILED and alarms) rather than retried quietly."""
