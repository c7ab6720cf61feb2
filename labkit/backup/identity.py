"""Which file is which: a content fingerprint that survives rds-mysql's renames.

An audit file is append-only, so its first line never changes once written. The fingerprint ("head") is
that first line with its newline, capped at ``HEAD_CAP`` bytes, as DownloadDBLogFilePortion returns it
(``Marker="0"``, ``NumberOfLines=1``: one small RDS call). A file whose first line is still being written
(no newline, shorter than the cap) has no head yet: it is not registered until it has one.

rds-mysql items are keyed ``<base name>@<first 16 hex of sha256(head)>``, so two detectors that see one
file (under any of its names, at any size) write the same key and converge.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.rdslogs import (
    DEFAULT_COMPLETE,
    GONE_CODES,
    CompleteDownload,
    download_complete_log_file,
)

HEAD_CAP = 1024
_ROTATED = re.compile(r"\.\d+$")


def head_of(data: bytes) -> bytes | None:
    """The fingerprint bytes from the start of a file (as the portion API returns it), or None."""
    newline = data.find(b"\n", 0, HEAD_CAP)
    if newline >= 0:
        return data[: newline + 1]
    if len(data) >= HEAD_CAP:
        return data[:HEAD_CAP]
    return None


def head_sha(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def read_head(
    rds: Any,
    instance_id: str,
    log_file_name: str,
    credentials: Any = None,
    settings: CompleteDownload = DEFAULT_COMPLETE,
) -> str | None:
    """sha256 of a listed file's head, or None when it has no complete first line yet (or is gone since
    it was listed: the caller's second listing then shows it moved).

    Some files are refused by the portion API ("This file contains binary data"): their head is read from
    the first bytes of DownloadCompleteDBLogFile instead, decoded the way the portion API decodes."""
    try:
        answer = rds.download_db_log_file_portion(
            DBInstanceIdentifier=instance_id, LogFileName=log_file_name, Marker="0", NumberOfLines=1
        )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in GONE_CODES:
            return None
        if credentials is None or code != "InvalidParameterValue":
            raise
        return _head_from_complete(rds, credentials, instance_id, log_file_name, settings)
    head = head_of(answer.get("LogFileData", "").encode("utf-8"))
    return None if head is None else head_sha(head)


def _head_from_complete(
    rds: Any, credentials: Any, instance_id: str, log_file_name: str, settings: CompleteDownload
) -> str | None:
    raw = bytearray()
    try:
        chunks = download_complete_log_file(
            rds, credentials, instance_id, log_file_name, 64 * 1024, settings=settings
        )
        for chunk in chunks:
            raw += chunk
            if b"\n" in raw or len(raw) >= 4 * HEAD_CAP:
                break
    except ClientError as exc:
        if exc.response["Error"]["Code"] in GONE_CODES:
            return None
        raise
    head = head_of(bytes(raw).decode("utf-8", errors="replace").encode("utf-8"))
    return None if head is None else head_sha(head)


def base_name(log_file_name: str) -> str:
    """``audit/server_audit.log.3`` -> ``audit/server_audit.log`` (the name every rotation shares)."""
    return _ROTATED.sub("", log_file_name)


def rds_mysql_file_id(log_file_name: str, sha: str) -> str:
    return f"{base_name(log_file_name)}@{sha[:16]}"
