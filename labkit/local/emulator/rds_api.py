"""The RDS log-file API that moto lacks, served from real files: a WSGI layer in front of moto's app.

This layer sits in front of moto's own app. It answers ``DescribeDBLogFiles``,
``DownloadDBLogFilePortion`` and the REST ``DownloadCompleteDBLogFile`` from the audit files the local
MariaDB servers write, and passes every other request to moto untouched. Instance existence is read from
moto's RDS backend, so deleting an instance through the API makes its logs vanish as on AWS.

Bytes that are not UTF-8: AWS's XML answer can only carry text. What AWS does is unconfirmed (reports show
replacement characters, and a "This file contains binary data" error on some files). This emulator replaces
each invalid byte (and each character XML 1.0 cannot carry) with U+FFFD in ``LogFileData``, counts them in
the ``x-labkit-replaced-bytes`` response header and in its log, and never changes the file on disk:
``DownloadCompleteDBLogFile`` returns the exact bytes.

RDS profiles (:mod:`labkit.local.emulator.rds_budget`): the default ``fast`` one answers as fast as it can; ``aws``
spends one token bucket per account and Region on the RDS reads the lab serves (an empty bucket answers
``Throttling`` "Rate exceeded", HTTP 400, at once), adds a fixed latency to every charged call, delivers pages
at a per-file rate and streams the complete download at a set rate. Clock and sleep are injectable.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from labkit.config import LOCAL_ACCOUNT_ID
from labkit.local.emulator.aurora_files import AuroraAuditFiles
from labkit.local.emulator.control_api import LABKIT_API, ControlApi
from labkit.local.emulator.logfiles import AuditDirectory, AuditFiles
from labkit.local.emulator.portions import InvalidMarkerError, read_portion
from labkit.local.emulator.rds_budget import BUDGETED_ACTIONS, Clock, RdsBudget, RdsProfile
from labkit.local.emulator.wire import (
    RdsApiError,
    Sleep,
    StartResponse,
    int_param,
    rds_error,
    rds_result,
    read_body,
    stream_file,
    xml_safe_text,
)

log = logging.getLogger(__name__)

ACCOUNT_ID = LOCAL_ACCOUNT_ID  # moto's default account
# DownloadCompleteDBLogFile's REST path, under either version the client may be set to (labkit.backup.rdslogs)
COMPLETE_PATH = re.compile(r"/v(?:13|19)/downloadCompleteLogFile/")
LOG_FILE_ACTIONS = ("DescribeDBLogFiles", "DownloadDBLogFilePortion")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Faults:
    """Test knobs: a share of RDS log-file calls answered with Throttling, added latency, and files whose
    download always fails (``refuse_files``: comma-separated name substrings; the portion API answers as AWS
    does for some files, "This file contains binary data", and the complete download with a 500)."""

    throttle_rate: float = 0.0
    latency_ms: int = 0
    refuse_files: str = ""

    def refuses(self, name: str) -> bool:
        return any(part and part in name for part in self.refuse_files.split(","))


class LogFileApi:
    """WSGI app: the RDS log-file actions served from real files, everything else by moto."""

    def __init__(
        self,
        moto_app: Callable[..., Iterable[bytes]],
        faults: Faults | None = None,
        profile: RdsProfile | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.moto_app = moto_app
        self.faults = faults or Faults()
        self.profile = profile or RdsProfile()
        self.budget = RdsBudget(self.profile, clock)
        self._sleep = sleep
        self.directories: dict[str, AuditFiles] = {}
        self._random = random.Random()
        self._lock = threading.Lock()
        # DynamoDB (and its streams) one request at a time: moto's threaded server would otherwise lose
        # concurrent ADDs and give two stream records one sequence number (tests/functional/
        # test_emulator_dynamodb_atomic.py); DynamoDB itself serializes the writes to an item
        self._dynamodb = threading.Lock()
        # every RDS API request by action (DownloadCompleteDBLogFile included): what the account's RDS rate
        # limit (12 requests/s, shared) is spent on; GET /labkit-api/rds-calls
        self.rds_calls: Counter[str] = Counter()
        self.rds_calls_by_instance: Counter[str] = Counter()  # "" = calls naming no instance
        # by action: calls the aws profile's bucket answered with Throttling (counted above too)
        self.rds_throttled: Counter[str] = Counter()
        self.control = ControlApi(self)  # /labkit-api/

    def register(
        self, instance_id: str, directory: Path, scheme: str, streams: int | None = None
    ) -> AuditFiles:
        """Serve ``instance_id``'s audit files from ``directory`` (a MariaDB audit directory); with
        ``streams`` (aurora only), from that many files written at once, stream k in ``<directory>/<k>/``
        (:mod:`labkit.local.emulator.aurora_files`)."""
        audit: AuditFiles
        if streams is None:
            audit = AuditDirectory(directory, scheme)
        elif scheme == "aurora":
            audit = AuroraAuditFiles(directory, streams)
        else:
            raise ValueError(f"{instance_id}: concurrent audit file streams need the aurora scheme")
        with self._lock:
            replaced = self.directories.get(instance_id)
            self.directories[instance_id] = audit
        if replaced is not None:
            replaced.close()
        return audit

    @property
    def routes(self) -> dict[str, Callable[[str, bytes], Any]]:
        """The control plane's added routes (``/labkit-api/<name>``)."""
        return self.control.routes

    def log_files(self) -> dict[str, list[dict[str, Any]]]:
        return self.control.log_files()

    def registered(self) -> dict[str, AuditFiles]:
        with self._lock:
            return dict(self.directories)

    # -- WSGI --------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith(LABKIT_API):
                return self.control(environ, start_response)
            scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            if COMPLETE_PATH.match(path):
                self._count("DownloadCompleteDBLogFile", unquote(path).split("/")[3])
                if scope and scope.group(2) == "rds":  # unsigned: refused below, as AWS does, for free
                    self._spend("DownloadCompleteDBLogFile", scope.group(1))
                return self._download_complete(environ, start_response)
            if environ.get("REQUEST_METHOD") == "POST" and scope and scope.group(2) == "rds":
                body = read_body(environ)
                form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                self._count(form.get("Action", "?"), form.get("DBInstanceIdentifier", ""))
                self._spend(form.get("Action", "?"), scope.group(1))
                if form.get("Action") in LOG_FILE_ACTIONS:
                    return self._log_file_action(form, scope.group(1), start_response)
                environ["wsgi.input"] = BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
        except RdsApiError as exc:
            return rds_error(start_response, exc)
        if scope and scope.group(2) == "dynamodb":
            with self._dynamodb:
                return list(self.moto_app(environ, start_response))  # the whole answer inside the lock
        return self.moto_app(environ, start_response)

    def _log_file_action(
        self, form: dict[str, str], region: str, start_response: StartResponse
    ) -> list[bytes]:
        action = form["Action"]
        try:
            self._inject_faults()
            audit = self._directory(form.get("DBInstanceIdentifier", ""), region)
            if action == "DescribeDBLogFiles":
                body = self._describe(audit, form)
                headers: list[tuple[str, str]] = []
            else:
                body, headers = self._portion(audit, form)
        except RdsApiError as exc:
            return rds_error(start_response, exc)
        start_response("200 OK", [("Content-Type", "text/xml"), *headers])
        return [body]

    # -- actions -----------------------------------------------------------------------------------------
    def _describe(self, audit: AuditFiles | None, form: dict[str, str]) -> bytes:
        files = audit.files() if audit else []
        contains = form.get("FilenameContains")
        since = int_param(form, "FileLastWritten")
        larger = int_param(form, "FileSize")
        max_records = int_param(form, "MaxRecords") or 100
        if max_records < 1:
            raise RdsApiError(400, "InvalidParameterValue", "MaxRecords must be at least 1")
        files = [
            f
            for f in files
            if (not contains or contains in f.name)
            and (since is None or f.last_written_ms >= since)
            and (larger is None or f.size > larger)
        ]
        start = 0
        if form.get("Marker"):
            if not form["Marker"].isdigit():
                raise RdsApiError(400, "InvalidParameterValue", f"invalid Marker {form['Marker']!r}")
            start = int(form["Marker"])
        page = files[start : start + max_records]
        details = "".join(
            "<DescribeDBLogFilesDetails>"
            f"<LogFileName>{escape(f.name)}</LogFileName><LastWritten>{f.last_written_ms}</LastWritten>"
            f"<Size>{f.size}</Size></DescribeDBLogFilesDetails>"
            for f in page
        )
        marker = f"<Marker>{start + max_records}</Marker>" if start + max_records < len(files) else ""
        return rds_result("DescribeDBLogFiles", f"<DescribeDBLogFiles>{details}</DescribeDBLogFiles>{marker}")

    def _portion(self, audit: AuditFiles | None, form: dict[str, str]) -> tuple[bytes, list[tuple[str, str]]]:
        name = form.get("LogFileName", "")
        if self.faults.refuses(name):
            raise RdsApiError(
                400,
                "InvalidParameterValue",
                "This file contains binary data and should be downloaded instead of viewed.",
            )
        opened = audit.open(name) if audit else None
        if opened is None:
            raise RdsApiError(
                404, "DBLogFileNotFoundFault", f"DBLog File: {name}, is not found on the DB instance"
            )
        _, fd = opened
        try:
            portion = read_portion(fd, form.get("Marker"), int_param(form, "NumberOfLines"))
        except InvalidMarkerError as exc:
            raise RdsApiError(400, "InvalidParameterValue", str(exc)) from exc
        finally:
            os.close(fd)
        delay = self.profile.portion_delay_s(len(portion.data))
        if delay:
            self._sleep(delay)  # the aws profile: fixed latency plus this page's transfer at the page rate
        text, replaced = xml_safe_text(portion.data)
        headers = [("x-labkit-replaced-bytes", str(replaced))] if replaced else []
        if replaced:
            log.warning(
                "%s: %d byte(s) not valid UTF-8/XML replaced by U+FFFD in LogFileData", name, replaced
            )
        body = (
            f"<LogFileData>{escape(text, {chr(13): '&#13;'})}</LogFileData>"
            f"<AdditionalDataPending>{str(portion.pending).lower()}</AdditionalDataPending>"
            f"<Marker>{portion.marker}</Marker>"
        )
        return rds_result("DownloadDBLogFilePortion", body), headers

    def _download_complete(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is None or scope.group(2) != "rds":
            raise_rest = RdsApiError(
                403, "MissingAuthenticationToken", "request must be SigV4-signed for rds"
            )
            return rds_error(start_response, raise_rest)
        prefix = COMPLETE_PATH.match(environ["PATH_INFO"])
        assert prefix is not None  # routed here only on a match
        instance_id, _, name = unquote(environ["PATH_INFO"][prefix.end() :]).partition("/")
        try:
            self._inject_faults()
            if self.faults.refuses(name):
                raise RdsApiError(500, "InternalFailure", f"{name}: refused by the refuse_files fault")
            audit = self._directory(instance_id, scope.group(1))
            opened = audit.open(name) if audit else None
            if opened is None:
                raise RdsApiError(404, "DBLogFileNotFoundFault", f"DBLog File: {name}, is not found")
        except RdsApiError as exc:
            return rds_error(start_response, exc)
        _, fd = opened
        size = os.fstat(fd).st_size  # a snapshot: bytes appended later belong to the next download
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
        )
        pace = self.profile.complete_delay_s if self.profile.throttles else None
        return stream_file(fd, size, pace=pace, sleep=self._sleep)

    # -- helpers -----------------------------------------------------------------------------------------
    def _count(self, action: str, instance_id: str) -> None:
        with self._lock:
            self.rds_calls[action] += 1
            self.rds_calls_by_instance[instance_id] += 1

    def _spend(self, action: str, region: str) -> None:
        """The aws profile: a token from the account's bucket (else Throttling) and the call's latency;
        pages add their transfer time when served, the complete download its streaming time."""
        if not self.budget.admit(ACCOUNT_ID, region, action):
            with self._lock:
                self.rds_throttled[action] += 1
            raise RdsApiError(400, "Throttling", "Rate exceeded")
        if action in BUDGETED_ACTIONS and action != "DownloadDBLogFilePortion":
            delay = self.profile.call_delay_s()
            if delay:
                self._sleep(delay)

    def _directory(self, instance_id: str, region: str) -> AuditFiles | None:
        if not instance_exists(instance_id, region):
            raise RdsApiError(404, "DBInstanceNotFound", f"DBInstance {instance_id} not found.")
        return self.directories.get(instance_id)

    def _inject_faults(self) -> None:
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.faults.throttle_rate and self._random.random() < self.faults.throttle_rate:
            raise RdsApiError(400, "Throttling", "Rate exceeded")


def instance_exists(instance_id: str, region: str) -> bool:
    """Read moto's RDS backend in-process: the emulator is this process."""
    from moto.rds.models import rds_backends

    return instance_id in rds_backends[ACCOUNT_ID][region].databases
