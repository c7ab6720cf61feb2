"""RDS log-file pages with caps chosen per call (random page boundaries), and the awkward bytes (partial UTF-8,
NUL, CR, quotes) that generated audit lines are built from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labkit.local.emulator import xml_safe_text
from labkit.local.emulator.portions import read_portion


class CappedPages:
    """The RDS client with DownloadDBLogFilePortion of the files in ``paths`` answered by the emulator's own
    page rules, but with a cap chosen per call (the emulator's is fixed at 1 MB): random page boundaries."""

    def __init__(self, rds: Any, caps: Iterator[int]) -> None:
        self._rds, self._caps = rds, caps
        self.paths: dict[str, Path] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rds, name)

    def download_db_log_file_portion(self, **kwargs: Any) -> Any:
        path = self.paths.get(kwargs["LogFileName"])
        if path is None:
            return self._rds.download_db_log_file_portion(**kwargs)
        fd = os.open(path, os.O_RDONLY)
        try:
            portion = read_portion(fd, kwargs["Marker"], kwargs.get("NumberOfLines"), cap=next(self._caps))
        finally:
            os.close(fd)
        return {
            "LogFileData": xml_safe_text(portion.data)[0],
            "Marker": portion.marker,
            "AdditionalDataPending": portion.pending,
        }


PIECES = [b"a", b"SELECT 1", b",", b"'", b"\xe9", b"\xff", b"\x00", "\u20ac".encode(), b"\xe2\x82", b"\r"]
