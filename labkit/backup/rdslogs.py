"""Reading RDS log files: DescribeDBLogFiles paging, DownloadDBLogFilePortion paging, and the SDK-less
DownloadCompleteDBLogFile (a SigV4-signed GET that streams the whole file).

Only boto3/botocore are used, so this runs inside the Lambda image.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

COMPLETE_PATH = "/v13/downloadCompleteLogFile/{instance}/{name}"
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_ERROR_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
_POOL = urllib3.PoolManager(maxsize=4)


@dataclass(frozen=True)
class Page:
    """One DownloadDBLogFilePortion answer, as the bytes the file holds (UTF-8 of LogFileData)."""

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
    """Page a file from ``marker`` ("0" = the start; never omit it) until no data is pending."""
    while True:
        answer = rds.download_db_log_file_portion(
            DBInstanceIdentifier=instance_id, LogFileName=log_file_name, Marker=marker
        )
        page = Page(
            answer.get("LogFileData", "").encode("utf-8"),
            answer.get("Marker", marker),
            bool(answer.get("AdditionalDataPending")),
        )
        yield page
        if not page.pending or page.marker == marker:
            return
        marker = page.marker


def download_complete_log_file(
    rds: Any, credentials: Credentials, instance_id: str, log_file_name: str, chunk_size: int = 1024 * 1024
) -> Iterator[bytes]:
    """Stream a whole log file through DownloadCompleteDBLogFile, as raw bytes.

    Errors arrive as botocore ``ClientError`` with the RDS error code, like the SDK calls.
    """
    path = COMPLETE_PATH.format(instance=quote(instance_id, safe=""), name=quote(log_file_name, safe="/"))
    url = rds.meta.endpoint_url.rstrip("/") + path
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "rds", rds.meta.region_name).add_auth(request)
    response = _POOL.request("GET", url, headers=dict(request.headers.items()), preload_content=False)
    try:
        if response.status != 200:
            raise _client_error(response.status, response.read())
        yield from response.stream(chunk_size)
    finally:
        response.release_conn()


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
