"""Reading RDS log files: DescribeDBLogFiles paging, DownloadDBLogFilePortion paging, and the SDK-less
DownloadCompleteDBLogFile (a SigV4-signed GET that streams the whole file).

Only boto3/botocore are used, so this runs inside the Lambda image. The complete download is not an SDK
call: its REST path version (``/v13/`` in every copy of the docs we could check; ``/v19/`` announced as its
successor), connect and read timeouts are settings (``CompleteDownload``, given to every call; the handlers and
verify build it from LabConfig through ``labkit.aws.complete_download``), and its network failures arrive as a ``ClientError`` like the SDK calls' errors, so a caller's
fallback to paging applies to them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from labkit.backup.errors import BackupError

API_VERSIONS = ("v13", "v19")
INSTANCE_GONE = ("DBInstanceNotFound", "DBInstanceNotFoundFault")  # the instance is deleted
FILE_GONE = ("DBLogFileNotFoundFault",)  # the file is deleted (retention) or renamed away
GONE_CODES = FILE_GONE + INSTANCE_GONE
PORTION_MAX_BYTES = (
    1024 * 1024
)  # DownloadDBLogFilePortion returns at most 1 MB a call (the emulator's cap too)
COMPLETE_PATH = "/{version}/downloadCompleteLogFile/{instance}/{name}"
UNAVAILABLE_CODE = "CompleteDownloadUnavailable"  # connection refused/reset, timeouts: page the file instead
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_ERROR_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
_POOL = urllib3.PoolManager(maxsize=4)


@dataclass(frozen=True)
class CompleteDownload:
    """How the REST complete download is reached; defaults match LabConfig's."""

    api_version: str = "v13"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0  # the longest silence between two reads, not the whole download
    timeout: urllib3.Timeout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.api_version not in API_VERSIONS:
            raise ValueError(f"REST path version {self.api_version!r}: expected v13 or v19")
        timeout = urllib3.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s)
        object.__setattr__(self, "timeout", timeout)


DEFAULT_COMPLETE = CompleteDownload()


class MissingMarkerError(BackupError):
    """A portion answer with data pending gave no new Marker: paging cannot go on without repeating a page."""


@dataclass(frozen=True)
class Page:
    """One DownloadDBLogFilePortion answer, as the bytes the file holds (UTF-8 of LogFileData).

    ``marker`` is the answer's own Marker, "" when it gave none (then there is no point to resume from).
    """

    data: bytes
    marker: str
    pending: bool


def list_log_files(rds: Any, instance_id: str, filename_contains: str = "audit") -> list[dict[str, Any]]:
    """Every log file of an instance whose name contains ``filename_contains``, through botocore's paginator."""
    files: list[dict[str, Any]] = []
    paginator = rds.get_paginator("describe_db_log_files")
    for page in paginator.paginate(DBInstanceIdentifier=instance_id, FilenameContains=filename_contains):
        files.extend(page.get("DescribeDBLogFiles", []))
    return files


def iter_portions(rds: Any, instance_id: str, log_file_name: str, marker: str = "0") -> Iterator[Page]:
    """Page a file from ``marker`` ("0" = the start; never omit it) until no data is pending.

    An answer without a Marker (or with the request's own, after data) is never continued from the request's
    marker, which would fetch the same page again: paging stops there, with MissingMarkerError when data was
    still pending.
    """
    while True:
        answer = rds.download_db_log_file_portion(
            DBInstanceIdentifier=instance_id, LogFileName=log_file_name, Marker=marker
        )
        page = Page(
            answer.get("LogFileData", "").encode("utf-8"),
            answer.get("Marker") or "",
            bool(answer.get("AdditionalDataPending")),
        )
        if page.pending and (not page.marker or (page.marker == marker and page.data)):
            raise MissingMarkerError(
                f"{instance_id} {log_file_name}: DownloadDBLogFilePortion at marker {marker!r} answered "
                f"{len(page.data)} bytes with data pending but no Marker to continue from "
                f"({'none' if not page.marker else 'the same one'}): paging stopped so no page is taken "
                "twice; the copy is retried from its stored position"
            )
        yield page
        if not page.pending or page.marker == marker:
            return
        marker = page.marker


def download_complete_log_file(
    rds: Any,
    credentials: Credentials,
    instance_id: str,
    log_file_name: str,
    chunk_size: int = 1024 * 1024,
    *,
    settings: CompleteDownload = DEFAULT_COMPLETE,
) -> Iterator[bytes]:
    """Stream a whole log file through DownloadCompleteDBLogFile, as raw bytes.

    Errors arrive as botocore ``ClientError``: the RDS error code for an answer, UNAVAILABLE_CODE when the
    endpoint could not be reached or stopped answering (connect/read timeout, refused or reset connection).
    """
    path = COMPLETE_PATH.format(
        version=settings.api_version,
        instance=quote(instance_id, safe=""),
        name=quote(log_file_name, safe="/"),
    )
    url = rds.meta.endpoint_url.rstrip("/") + path
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "rds", rds.meta.region_name).add_auth(request)
    # one RDS request like any SDK call: whatever hooks the client's sends (the pipeline's RDS budget,
    # labkit.backup.rdsbudget) sees it through botocore's own event
    rds.meta.events.emit("before-send.rds.DownloadCompleteDBLogFile", request=request)
    try:
        response = _POOL.request(
            "GET",
            url,
            headers=dict(request.headers.items()),
            preload_content=False,
            timeout=settings.timeout,
            retries=False,  # the caller's fallback (paging) is the retry
        )
    except urllib3.exceptions.HTTPError as exc:
        raise _unavailable(instance_id, log_file_name, url, exc) from exc
    finished = False
    try:
        if response.status != 200:
            raise _client_error(response.status, response.read())
        yield from response.stream(chunk_size)
        finished = True
    except urllib3.exceptions.HTTPError as exc:
        raise _unavailable(instance_id, log_file_name, url, exc) from exc
    finally:
        if not finished:  # the caller stopped early (a head, a page): unread bytes must not reach the pool
            response.close()
        response.release_conn()


def _unavailable(instance_id: str, log_file_name: str, url: str, exc: Exception) -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": UNAVAILABLE_CODE,
                "Message": f"{instance_id} {log_file_name}: {url} unreachable or stalled "
                f"({type(exc).__name__}: {exc})",
            },
            "ResponseMetadata": {"HTTPStatusCode": 0},
        },
        "DownloadCompleteDBLogFile",
    )


def _client_error(status: int, body: bytes) -> ClientError:
    code = _ERROR_CODE.search(body)
    message = _ERROR_MESSAGE.search(body)
    return ClientError(
        {
            "Error": {
                "Code": code.group(1).decode() if code else f"HTTP{status}",
                "Message": message.group(1).decode(errors="replace")
                if message
                else body[:200].decode(errors="replace"),
            },
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "DownloadCompleteDBLogFile",
    )
