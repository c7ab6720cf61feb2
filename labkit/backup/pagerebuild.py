"""Which source bytes a DownloadDBLogFilePortion page stands for, when its text is not the file's bytes.

The portion API answers text: a byte that is not UTF-8 (or not legal in XML) comes back as U+FFFD, and a
line longer than the cap comes back cut, with AWS's truncation text. Such a page is rebuilt from the complete
download, by byte range: it covers the source bytes from its offset to the end of its last complete line,
plus the bytes its partial last line (text after the last newline) stands for. The partial line's length in
the source is known only when it is certain: the rendered text has a single source length that renders to it
(:func:`fragment_length`). When it is not certain, only the complete lines are taken and the caller keeps its
marker where the page began, so the next read fetches the line again once it is complete — never a byte
skipped, never one twice, never a byte from after the page (bytes written since the page was read).
"""

from __future__ import annotations

import re

from labkit.backup.rdslogs import Page

TRUNCATION_TEXT = b"[Your log message was truncated]"
REPLACEMENT = "\ufffd".encode()
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_CANDIDATES = 256  # a partial line with more replacements than this is taken as uncertain


def needs_rebuild(data: bytes) -> bool:
    """A page whose text may differ from the file's bytes."""
    return TRUNCATION_TEXT in data or REPLACEMENT in data


def split_page(data: bytes) -> tuple[int, bytes]:
    """(complete lines, partial last line) of a page."""
    last = data.rfind(b"\n")
    return data.count(b"\n"), data[last + 1 :]


def render(source: bytes) -> bytes:
    """What the portion API's text looks like for these bytes (as the local emulator renders it)."""
    return _XML_ILLEGAL.sub("\ufffd", source.decode("utf-8", errors="replace")).encode()


def fragment_length(source: bytes, fragment: bytes) -> int | None:
    """How many bytes at the start of ``source`` the partial line ``fragment`` stands for, or None when that
    cannot be told for certain (truncated, ambiguous, or not rendered the way we render)."""
    if not fragment:
        return 0
    if TRUNCATION_TEXT in fragment:
        return None
    if REPLACEMENT not in fragment:
        return len(fragment) if source.startswith(fragment) else None
    # each U+FFFD (3 bytes) stands for 1 to 3 source bytes (or is a literal U+FFFD)
    shortest = max(1, len(fragment) - 2 * fragment.count(REPLACEMENT))
    if len(fragment) - shortest > MAX_CANDIDATES:
        return None
    fits = [n for n in range(shortest, min(len(fragment), len(source)) + 1) if render(source[:n]) == fragment]
    return fits[0] if len(fits) == 1 else None


def nth_newline(data: bytes | bytearray, n: int) -> int:
    """Index of the n-th newline (n >= 1), or -1."""
    pos = -1
    for _ in range(n):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return -1
    return pos


def page_extent(source: bytes, page: Page, lines: int, fragment: bytes) -> tuple[bytes, bool]:
    """The page's bytes in ``source`` (which starts at the page's offset and may have grown since)."""
    end_lines = nth_newline(source, lines) + 1 if lines else 0
    cut_at_end = page.data.endswith(TRUNCATION_TEXT + b"\n") and not page.pending
    if cut_at_end or (lines and end_lines == 0):
        # its last line was cut while still being written, or the file has fewer lines than the page:
        # only the whole lines before it are certain
        keep = nth_newline(source, lines - 1) + 1 if lines > 1 else 0
        if lines > 1 and keep == 0:
            keep = source.rfind(b"\n") + 1
        return source[:keep], False
    length = fragment_length(source[end_lines:], fragment)
    return source[: end_lines + (length or 0)], length is not None
