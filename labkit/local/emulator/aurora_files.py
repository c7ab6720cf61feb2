"""An Aurora instance's audit files: several written at once, each its own stream of files.

Aurora MySQL writes about four audit files at a time (``audit/audit.log.<0-3>.<YYYY-MM-DD-HH-MM>.<n>``,
REFERENCE.md; the count is unconfirmed), each with a name for its whole life. Each stream here is one
:class:`AuditDirectory` on its own sub-directory (``<directory>/<k>/``) in the aurora scheme, so the names,
the inode following and the descriptors held on named files are the ones the MariaDB lab already uses; this
class only puts the streams side by side and sends a name to the stream its ``<k>`` names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.local.emulator.logfiles import AuditDirectory, LogFile

AURORA_STREAMS = 4  # files written at once per Aurora instance (REFERENCE.md: four, unconfirmed)
_STREAM_OF = re.compile(r"audit/audit\.log\.(\d+)\.")


class AuroraAuditFiles:
    """``streams`` AuditDirectories of one instance, listed stream after stream (each oldest first)."""

    scheme = "aurora"

    def __init__(
        self, directory: Path, streams: int = AURORA_STREAMS, clock: Callable[[], float] = time.time
    ) -> None:
        if streams < 1:
            raise ValueError(f"an instance writes at least one audit file stream, not {streams}")
        self.directory = Path(directory)
        self.streams = [
            AuditDirectory(self.stream_directory(self.directory, k), "aurora", clock, stream=k)
            for k in range(streams)
        ]

    @staticmethod
    def stream_directory(directory: Path, stream: int) -> Path:
        """Where stream ``stream``'s files live on disk (MariaDB's names: server_audit.log and .N)."""
        return Path(directory) / str(stream)

    @property
    def remember_listings(self) -> bool:
        return all(s.remember_listings for s in self.streams)

    @remember_listings.setter
    def remember_listings(self, value: bool) -> None:
        for s in self.streams:
            s.remember_listings = value

    def files(self) -> list[LogFile]:
        return [f for s in self.streams for f in s.files()]

    def listed_since(self) -> list[LogFile]:
        return [f for s in self.streams for f in s.listed_since()]

    def find(self, name: str) -> LogFile | None:
        stream = self._stream(name)
        return stream.find(name) if stream else None

    def open(self, name: str) -> tuple[LogFile, int] | None:
        stream = self._stream(name)
        return stream.open(name) if stream else None

    def close(self) -> None:
        for s in self.streams:
            s.close()

    def naming_state(self) -> dict[str, Any]:
        return {"streams": [s.naming_state() for s in self.streams]}

    def restore_naming(self, state: dict[str, Any]) -> None:
        for s, saved in zip(self.streams, state.get("streams", []), strict=False):
            s.restore_naming(saved)

    def _stream(self, name: str) -> AuditDirectory | None:
        match = _STREAM_OF.match(name)
        if match is None or int(match.group(1)) >= len(self.streams):
            return None
        return self.streams[int(match.group(1))]


__all__ = ["AURORA_STREAMS", "AuroraAuditFiles"]
