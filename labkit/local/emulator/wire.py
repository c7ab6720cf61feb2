"""The RDS query API's wire format as the emulator writes it: XML results and errors, the text a
``LogFileData`` element can carry, form parameters and streamed bodies."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape

RDS_XMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

StartResponse = Callable[..., Any]
Sleep = Callable[[float], None]


class RdsApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def xml_safe_text(data: bytes) -> tuple[str, int]:
    """Decode for an XML answer; returns the text and how many bytes or characters were replaced."""
    text = data.decode("utf-8", errors="replace")
    replaced = 0
    if "\ufffd" in text:
        replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    text, illegal = _XML_ILLEGAL.subn("\ufffd", text)
    return text, replaced + illegal


def json_answer(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def stream_file(
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


def read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def int_param(form: dict[str, str], key: str) -> int | None:
    raw = form.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise RdsApiError(400, "InvalidParameterValue", f"{key} must be an integer, got {raw!r}") from exc


def rds_result(action: str, inner: str) -> bytes:
    return (
        f'<{action}Response xmlns="{RDS_XMLNS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def rds_error(start_response: StartResponse, exc: RdsApiError) -> list[bytes]:
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(exc.status, "Error")
    body = (
        f'<ErrorResponse xmlns="{RDS_XMLNS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
        f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        f"{exc.status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]
