"""DownloadDBLogFilePortion's paging rules over a real file: markers, the 1 MB cap, NumberOfLines, the
tail when no marker is given, and a line too long for one page."""

from __future__ import annotations

import os
from dataclasses import dataclass

PORTION_CAP = 1024 * 1024  # DownloadDBLogFilePortion returns at most 1 MB of data per call
TAIL_LINES = 10_000  # lines returned when neither Marker nor NumberOfLines is given
TRUNCATION_TEXT = b"[Your log message was truncated]"


@dataclass(frozen=True)
class Portion:
    """One DownloadDBLogFilePortion answer, still as bytes."""

    data: bytes
    marker: str
    pending: bool
    truncated: bool = False


class InvalidMarkerError(ValueError):
    """A Marker the emulator never handed out."""


def parse_marker(marker: str) -> int:
    """The byte offset behind one of our opaque markers ("0" is the start)."""
    if marker == "0":
        return 0
    page, _, offset = marker.partition(":")
    if not (page.isdigit() and offset.isdigit()):
        raise InvalidMarkerError(f'invalid Marker {marker!r}: pass "0" or a Marker a previous call returned')
    return int(offset)


def make_marker(offset: int) -> str:
    """Opaque like AWS's ``15:1048577``: clients must store it, not compute it."""
    return f"{offset // PORTION_CAP}:{offset}"


def read_portion(fd: int, marker: str | None, number_of_lines: int | None, cap: int = PORTION_CAP) -> Portion:
    """DownloadDBLogFilePortion's rules over an open file."""
    if marker is None:
        return _read_tail(fd, number_of_lines or TAIL_LINES, cap)
    offset = parse_marker(marker)
    chunk = os.pread(fd, cap + 1, offset)
    if not chunk:
        return Portion(b"", make_marker(offset), pending=False)
    at_eof = len(chunk) <= cap
    window = chunk[:cap]
    end = _nth_line_end(window, number_of_lines) if number_of_lines else -1
    truncated = False
    if end >= 0:
        data = window[: end + 1]
    elif at_eof:
        data = window
    else:
        cut = window.rfind(b"\n")
        if cut >= 0:
            data = window[: cut + 1]
        else:  # one line longer than the cap: AWS cuts it and says so
            data, truncated = _truncated_line(window, cap), True
    next_offset = offset + len(data)
    if truncated:
        next_offset = _line_end_after(fd, offset + cap)
    pending = next_offset < os.fstat(fd).st_size
    return Portion(data, make_marker(next_offset), pending, truncated)


def _nth_line_end(window: bytes, lines: int) -> int:
    pos = -1
    for _ in range(lines):
        pos = window.find(b"\n", pos + 1)
        if pos < 0:
            return -1
    return pos


def _truncated_line(window: bytes, cap: int) -> bytes:
    keep = cap - len(TRUNCATION_TEXT) - 1
    while keep > 0 and (window[keep] & 0xC0) == 0x80:  # never split a UTF-8 character
        keep -= 1
    return window[:keep] + TRUNCATION_TEXT + b"\n"


def _line_end_after(fd: int, offset: int) -> int:
    while True:
        block = os.pread(fd, 1024 * 1024, offset)
        if not block:
            return offset
        newline = block.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(block)


def _read_tail(fd: int, lines: int, cap: int) -> Portion:
    size = os.fstat(fd).st_size
    start = max(0, size - cap)
    block = os.pread(fd, size - start, start)
    if start > 0:  # begin at a line start
        first = block.find(b"\n")
        block = block[first + 1 :] if first >= 0 else b""
    body = block[:-1] if block.endswith(b"\n") else block
    parts = body.split(b"\n")
    tail = b"\n".join(parts[-lines:]) + (b"\n" if block.endswith(b"\n") else b"")
    return Portion(tail if block else b"", make_marker(size), pending=False)
