"""The local AWS account: moto's server with the RDS log-file APIs that moto lacks, on loopback.

A thin WSGI layer sits in front of moto's own app. It answers ``DescribeDBLogFiles``,
``DownloadDBLogFilePortion`` and the REST ``DownloadCompleteDBLogFile`` from the audit files the local
MariaDB servers write, and passes every other request to moto untouched. Instance existence is read from
moto's RDS backend, so deleting an instance through the API makes its logs vanish as on AWS.

Bytes that are not UTF-8: AWS's XML answer can only carry text. What AWS does is unconfirmed (reports show
replacement characters, and a "This file contains binary data" error on some files). This emulator replaces
each invalid byte (and each character XML 1.0 cannot carry) with U+FFFD in ``LogFileData``, counts them in
the ``x-labkit-replaced-bytes`` response header and in its log, and never changes the file on disk:
``DownloadCompleteDBLogFile`` returns the exact bytes.

RDS profiles (:mod:`labkit.local.rds_budget`): the default ``fast`` one answers as fast as it can; ``aws``
spends one token bucket per account and Region on the RDS reads the lab serves (an empty bucket answers
``Throttling`` "Rate exceeded", HTTP 400, at once), adds a fixed latency to every charged call, delivers pages
at a per-file rate and streams the complete download at a set rate. Clock and sleep are injectable.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from labkit.backup.rdsevents import alarm_topic_name
from labkit.config import LOCAL_ACCOUNT_ID, LabConfig
from labkit.local.deletion_events import DeletionWatcher
from labkit.local.logfiles import AuditDirectory, InvalidMarkerError, read_portion
from labkit.local.rds_budget import BUDGETED_ACTIONS, Clock, RdsBudget, RdsProfile

log = logging.getLogger(__name__)

ACCOUNT_ID = LOCAL_ACCOUNT_ID  # moto's default account
RDS_XMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"
# DownloadCompleteDBLogFile's REST path, under either version the client may be set to (labkit.backup.rdslogs)
COMPLETE_PATH = re.compile(r"/v(?:13|19)/downloadCompleteLogFile/")
LABKIT_API = "/labkit-api/"
LOG_FILE_ACTIONS = ("DescribeDBLogFiles", "DownloadDBLogFilePortion")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

StartResponse = Callable[..., Any]
Sleep = Callable[[float], None]


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


class RdsApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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
        self.directories: dict[str, AuditDirectory] = {}
        # more control routes under /labkit-api/ (the service adds the Lambda runtime's): name -> f(method, body)
        self.routes: dict[str, Callable[[str, bytes], Any]] = {}
        self._random = random.Random()
        self._lock = threading.Lock()
        # every RDS API request by action (DownloadCompleteDBLogFile included): what the account's RDS rate
        # limit (12 requests/s, shared) is spent on; GET /labkit-api/rds-calls
        self.rds_calls: Counter[str] = Counter()
        self.rds_calls_by_instance: Counter[str] = Counter()  # "" = calls naming no instance
        # by action: calls the aws profile's bucket answered with Throttling (counted above too)
        self.rds_throttled: Counter[str] = Counter()

    def register(self, instance_id: str, directory: Path, scheme: str) -> AuditDirectory:
        audit = AuditDirectory(directory, scheme)
        with self._lock:
            replaced = self.directories.get(instance_id)
            self.directories[instance_id] = audit
        if replaced is not None:
            replaced.close()
        return audit

    def registered(self) -> dict[str, AuditDirectory]:
        with self._lock:
            return dict(self.directories)

    # -- WSGI --------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith(LABKIT_API):
                return self._labkit_api(environ, start_response)
            scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            if COMPLETE_PATH.match(path):
                self._count("DownloadCompleteDBLogFile", unquote(path).split("/")[3])
                if scope and scope.group(2) == "rds":  # unsigned: refused below, as AWS does, for free
                    self._spend("DownloadCompleteDBLogFile", scope.group(1))
                return self._download_complete(environ, start_response)
            if environ.get("REQUEST_METHOD") == "POST" and scope and scope.group(2) == "rds":
                body = _read_body(environ)
                form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                self._count(form.get("Action", "?"), form.get("DBInstanceIdentifier", ""))
                self._spend(form.get("Action", "?"), scope.group(1))
                if form.get("Action") in LOG_FILE_ACTIONS:
                    return self._log_file_action(form, scope.group(1), start_response)
                environ["wsgi.input"] = BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
        except RdsApiError as exc:
            return _error(start_response, exc)
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
            return _error(start_response, exc)
        start_response("200 OK", [("Content-Type", "text/xml"), *headers])
        return [body]

    # -- actions -----------------------------------------------------------------------------------------
    def _describe(self, audit: AuditDirectory | None, form: dict[str, str]) -> bytes:
        files = audit.files() if audit else []
        contains = form.get("FilenameContains")
        since = _int_param(form, "FileLastWritten")
        larger = _int_param(form, "FileSize")
        max_records = _int_param(form, "MaxRecords") or 100
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
        return _result("DescribeDBLogFiles", f"<DescribeDBLogFiles>{details}</DescribeDBLogFiles>{marker}")

    def _portion(
        self, audit: AuditDirectory | None, form: dict[str, str]
    ) -> tuple[bytes, list[tuple[str, str]]]:
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
            portion = read_portion(fd, form.get("Marker"), _int_param(form, "NumberOfLines"))
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
        return _result("DownloadDBLogFilePortion", body), headers

    def _download_complete(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is None or scope.group(2) != "rds":
            raise_rest = RdsApiError(
                403, "MissingAuthenticationToken", "request must be SigV4-signed for rds"
            )
            return _error(start_response, raise_rest)
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
            return _error(start_response, exc)
        _, fd = opened
        size = os.fstat(fd).st_size  # a snapshot: bytes appended later belong to the next download
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
        )
        pace = self.profile.complete_delay_s if self.profile.throttles else None
        return _stream(fd, size, pace=pace, sleep=self._sleep)

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

    def _directory(self, instance_id: str, region: str) -> AuditDirectory | None:
        if not instance_exists(instance_id, region):
            raise RdsApiError(404, "DBInstanceNotFound", f"DBInstance {instance_id} not found.")
        return self.directories.get(instance_id)

    def _inject_faults(self) -> None:
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.faults.throttle_rate and self._random.random() < self.faults.throttle_rate:
            raise RdsApiError(400, "Throttling", "Rate exceeded")

    def _labkit_api(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """Local-only control endpoint: GET/POST /labkit-api/faults, GET /labkit-api/logfiles, GET
        /labkit-api/rds-calls (RDS requests served so far, by action)."""
        route = environ["PATH_INFO"][len(LABKIT_API) :]
        if route == "logfiles":
            return _json(start_response, "200 OK", self.log_files())
        if route == "rds-calls":
            with self._lock:
                calls, per_instance = dict(self.rds_calls), dict(self.rds_calls_by_instance)
                throttled = dict(self.rds_throttled)
            answer = {
                "total": sum(calls.values()),
                "by_action": calls,
                "by_instance": per_instance,
                "throttled": throttled,  # by action, included in the counts above
                "profile": asdict(self.profile),
            }
            return _json(start_response, "200 OK", answer)
        if route in self.routes:
            method = environ.get("REQUEST_METHOD", "GET")
            return _json(start_response, "200 OK", self.routes[route](method, _read_body(environ)))
        if route != "faults":
            return _json(start_response, "404 Not Found", {"error": f"unknown labkit-api path {route!r}"})
        if environ.get("REQUEST_METHOD") == "POST":
            update = json.loads(_read_body(environ) or b"{}")
            unknown = set(update) - set(asdict(self.faults))
            if unknown:
                return _json(
                    start_response, "400 Bad Request", {"error": f"unknown fault(s): {sorted(unknown)}"}
                )
            for key, value in update.items():
                setattr(self.faults, key, type(getattr(self.faults, key))(value))
        return _json(start_response, "200 OK", asdict(self.faults))

    def log_files(self) -> dict[str, list[dict[str, Any]]]:
        """Every registered instance's files: name as RDS lists it, path on disk, size, LastWritten."""
        with self._lock:
            directories = dict(self.directories)
        return {
            instance_id: [
                {
                    "name": f.name,
                    "path": str(f.path),
                    "inode": f.inode,
                    "size": f.size,
                    "last_written": f.last_written_ms,
                }
                for f in audit.files()
            ]
            for instance_id, audit in directories.items()
        }


def instance_exists(instance_id: str, region: str) -> bool:
    """Read moto's RDS backend in-process: the emulator is this process."""
    from moto.rds.models import rds_backends

    return instance_id in rds_backends[ACCOUNT_ID][region].databases


def xml_safe_text(data: bytes) -> tuple[str, int]:
    """Decode for an XML answer; returns the text and how many bytes or characters were replaced."""
    text = data.decode("utf-8", errors="replace")
    replaced = 0
    if "\ufffd" in text:
        replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    text, illegal = _XML_ILLEGAL.subn("\ufffd", text)
    return text, replaced + illegal


def _json(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def _stream(
    fd: int,
    size: int,
    block: int = 1024 * 1024,
    *,
    pace: Callable[[int], float] | None = None,
    sleep: Sleep = time.sleep,
) -> Iterator[bytes]:
    """The file's first ``size`` bytes; with ``pace`` (bytes -> seconds), each block waits its transfer time."""
    try:
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(block, size - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            if pace is not None:
                sleep(pace(len(chunk)))
            yield chunk
    finally:
        os.close(fd)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _int_param(form: dict[str, str], key: str) -> int | None:
    raw = form.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise RdsApiError(400, "InvalidParameterValue", f"{key} must be an integer, got {raw!r}") from exc


def _result(action: str, inner: str) -> bytes:
    return (
        f'<{action}Response xmlns="{RDS_XMLNS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def _error(start_response: StartResponse, exc: RdsApiError) -> list[bytes]:
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(exc.status, "Error")
    body = (
        f'<ErrorResponse xmlns="{RDS_XMLNS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
        f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        f"{exc.status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class EmulatorServer:
    """moto's server plus the log-file layer, on a loopback port, in a background thread."""

    def __init__(
        self,
        port: int,
        faults: Faults | None = None,
        profile: RdsProfile | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.app = LogFileApi(
            DomainDispatcherApplication(create_backend_app), faults, profile, clock=clock, sleep=sleep
        )
        self._server = make_server(
            "127.0.0.1", port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self.deletions: DeletionWatcher | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def watch_deletions(self, config: LabConfig, interval_s: float = 1.0) -> DeletionWatcher:
        """Raise RDS's deletion events (SNS-wrapped, as the alarm topic delivers them) into the detector's
        queue of ``config``'s lab when a registered instance's audit file or the instance disappears."""
        import boto3

        region = config.region
        sqs = boto3.client(
            "sqs",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

        def publish(body: str) -> None:
            url = sqs.get_queue_url(QueueName=config.names.queue)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)

        self.deletions = DeletionWatcher(
            self.app.registered,
            lambda instance_id: instance_exists(instance_id, region),
            publish,
            region=region,
            account_id=ACCOUNT_ID,
            topic_arn=f"arn:aws:sns:{region}:{ACCOUNT_ID}:{alarm_topic_name(config.project)}",
            interval_s=interval_s,
        )
        self.deletions.start()
        return self.deletions

    def stop(self) -> None:
        if self.deletions:
            self.deletions.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        for audit in self.app.registered().values():
            audit.close()  # the descriptors held on named audit files
