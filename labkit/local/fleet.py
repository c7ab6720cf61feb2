"""A synthetic Aurora MySQL fleet for benches and tests: N instances in the emulator, no MariaDB servers.

Each instance is registered in the emulator as on AWS (a cluster, an ``aurora-mysql`` instance) and its
audit files are served by :class:`labkit.local.emulator.aurora_files.AuroraAuditFiles`: ``streams`` files
written at once, Aurora's names (``audit/audit.log.<k>.<YYYY-MM-DD-HH-MM>.<n>``), a name kept for the
file's whole life. A writer appends Aurora-format lines at each instance's rate and follows Aurora's rules
(REFERENCE.md), scaled down for the lab:

- **rates**: a distribution, mostly quiet, some busy: ``busy_fraction`` of the instances write
  ``busy_share`` of the total rate, the others share the rest evenly;
- **rotation** of a file at ``rotate_bytes`` (Aurora: 100 MB) and of every file of an instance at each
  ``rotate_period_s`` boundary (Aurora 3.04+: hourly, unconfirmed); a rotated file is never written again;
- **retention**: rotated files older than ``retention_s`` (Aurora: 24 h by the older docs) are deleted, and the
  oldest rotated files while an instance holds more than ``retention_files`` (an assumption: Aurora deletes for
  log space, with no documented file count); the emulator's deletion watcher raises the RDS events as for
  the MariaDB lab;
- **probes**: every ``probe_interval_s`` each instance writes one line tagged ``fleet-probe-<run>-<instance>-<n>``
  and the writer notes when the write returned, so a bench can measure RPO (write -> the line in S3).

On disk a stream is MariaDB's layout (``server_audit.log`` active, rotated files renamed to
``server_audit.log.<N>``, N smaller the newer, so the emulator's listing order holds without renaming the
older files): the emulator's aurora naming follows the inodes as it does for MariaDB. The clock is
injectable; each write sets the file's mtime (RDS's ``LastWritten``) to it, so tests run histories on a
fake clock.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from labkit.errors import ConfigError
from labkit.local.emulator.aurora_files import AURORA_STREAMS, AuroraAuditFiles
from labkit.local.emulator.logfiles import AUDIT_BASENAME, AuditFiles

MB = 1_000_000
_ROTATED_BASE = 999_999_999  # rotated file r of a stream: server_audit.log.<BASE - r> (newer = smaller N)


class FleetSpecError(ConfigError):
    """A fleet setting out of range; the message names it and what to use instead."""


@dataclass(frozen=True)
class FleetSpec:
    instances: int
    total_bytes_s: float  # audit bytes per second over the whole fleet
    clusters: int = 1
    busy_fraction: float = 0.1  # share of the instances that are busy (at least one)
    busy_share: float = 0.7  # share of the total rate the busy instances write
    streams: int = AURORA_STREAMS
    rotate_bytes: int = 10 * MB  # Aurora: 100 MB; scaled down
    rotate_period_s: float = 600.0  # Aurora 3.04+: hourly (unconfirmed); scaled down; 0: off
    retention_s: float = 1800.0  # Aurora: 24 h (older docs); scaled down; 0: off
    retention_files: int = 64  # per instance (assumption: no documented count); 0: off
    probe_interval_s: float = 5.0  # 0: no probes
    line_bytes: int = 200
    prefix: str = "fleet"
    run_id: str = "run"

    def validate(self) -> FleetSpec:
        problems = []
        if self.instances < 1:
            problems.append(f"instances {self.instances}: a fleet has at least 1 instance")
        if not 1 <= self.clusters <= max(1, self.instances):
            problems.append(f"clusters {self.clusters}: use 1 to instances ({self.instances})")
        if self.total_bytes_s < 0:
            problems.append(f"total_bytes_s {self.total_bytes_s}: use a rate >= 0")
        if not (0 <= self.busy_fraction <= 1 and 0 <= self.busy_share <= 1):
            problems.append("busy_fraction and busy_share are fractions: use values from 0 to 1")
        if self.streams < 1:
            problems.append(f"streams {self.streams}: an instance writes at least 1 file (Aurora: 4)")
        if self.line_bytes < 80:
            problems.append(f"line_bytes {self.line_bytes}: an Aurora audit line needs at least 80 bytes")
        if self.rotate_bytes < self.line_bytes:
            problems.append(f"rotate_bytes {self.rotate_bytes}: use at least line_bytes ({self.line_bytes})")
        if self.retention_files and self.retention_files < self.streams:
            problems.append(
                f"retention_files {self.retention_files}: keep at least the {self.streams} files being "
                "written (or 0 for no count limit)"
            )
        if min(self.rotate_period_s, self.retention_s, self.probe_interval_s) < 0:
            problems.append("rotate_period_s, retention_s and probe_interval_s are >= 0 (0: off)")
        if problems:
            raise FleetSpecError("synthetic fleet: " + "; ".join(problems))
        return self

    def rates(self) -> list[float]:
        """Bytes/s per instance: the busy ones first, the total is ``total_bytes_s``."""
        n = self.instances
        busy = n if n == 1 else min(n, max(1, round(self.busy_fraction * n)))
        if busy == n:
            return [self.total_bytes_s / n] * n
        hot, quiet = self.total_bytes_s * self.busy_share, self.total_bytes_s * (1 - self.busy_share)
        return [hot / busy] * busy + [quiet / (n - busy)] * (n - busy)

    def instance_ids(self) -> list[str]:
        return [f"{self.prefix}-{i:04d}" for i in range(self.instances)]

    def cluster_of(self, index: int) -> str:
        return f"{self.prefix}-c{index % self.clusters:02d}"


@dataclass(frozen=True)
class Probe:
    instance_id: str
    number: int
    tag: str  # in the line, as written
    written_at: float  # the writer's clock when the write returned


@dataclass(frozen=True)
class DeletedFile:
    """A file retention deleted: its name as the emulator listed it, its final size and sha256."""

    instance_id: str
    name: str | None  # None: never listed
    size: int
    sha256: str


@dataclass
class _Stream:
    directory: Path
    period: int  # the rotation period the active file was begun in
    size: int = 0
    last_write: float = 0.0
    rotations: int = 0
    rotated: list[tuple[Path, float]] = field(default_factory=list)  # (path, last write), oldest first

    @property
    def active(self) -> Path:
        return self.directory / AUDIT_BASENAME


@dataclass
class _Instance:
    instance_id: str
    cluster_id: str
    rate: float
    directory: Path
    streams: list[_Stream]
    carry: float = 0.0
    next_stream: int = 0
    queries: int = 0
    probes: int = 0
    next_probe: float = 0.0


class SyntheticFleet:
    """The fleet's instances and the writer that makes their audit files; ``step`` is one tick."""

    def __init__(self, spec: FleetSpec, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec.validate()
        self.root = Path(root)
        self._clock = clock
        self._t0 = self._last = clock()
        self.instances = [
            _Instance(
                instance_id,
                spec.cluster_of(i),
                rate,
                self.root / instance_id,
                [
                    _Stream(AuroraAuditFiles.stream_directory(self.root / instance_id, k), 0)
                    for k in range(spec.streams)
                ],
                next_probe=self._t0,
            )
            for i, (instance_id, rate) in enumerate(zip(spec.instance_ids(), spec.rates(), strict=True))
        ]
        for instance in self.instances:
            for stream in instance.streams:
                stream.directory.mkdir(parents=True, exist_ok=True)
        self.audit: dict[str, AuditFiles] = {}  # instance -> what the emulator serves it from
        self.produced = 0  # bytes written so far, probes included
        self.probes: list[Probe] = []
        self.deleted: list[DeletedFile] = []
        self.rotations = 0
        self._lock = threading.Lock()  # one step at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- set-up --------------------------------------------------------------------------------------------
    def register(self, rds: Any, api: Any) -> None:
        """Create the clusters and instances through ``rds`` (set-up calls: not charged to the budget) and
        have the emulator app ``api`` (a LogFileApi) serve their files."""
        made = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
        for instance in self.instances:
            if instance.cluster_id not in made:
                rds.create_db_cluster(
                    DBClusterIdentifier=instance.cluster_id,
                    Engine="aurora-mysql",
                    EngineVersion="8.0.mysql_aurora.3.08.0",
                    MasterUsername="fleet",
                    MasterUserPassword="synthetic-fleet-0",
                )
                made.add(instance.cluster_id)
            rds.create_db_instance(
                DBInstanceIdentifier=instance.instance_id,
                DBClusterIdentifier=instance.cluster_id,
                Engine="aurora-mysql",
                DBInstanceClass="db.r6g.large",
            )
            self.audit[instance.instance_id] = api.register(
                instance.instance_id, instance.directory, "aurora", streams=self.spec.streams
            )

    # -- the writer ----------------------------------------------------------------------------------------
    def step(self) -> None:
        """Write what is due since the last step, then rotate and apply retention."""
        with self._lock:
            now = self._clock()
            elapsed, self._last = max(0.0, now - self._last), now
            period = self._period(now)
            for instance in self.instances:
                for stream in instance.streams:  # the period's boundary rotates every non-empty file
                    if period > stream.period:
                        if stream.size:
                            self._rotate(stream)
                        stream.period = period
                self._write(instance, elapsed, now)
                self._retain(instance, now)

    def apply_retention(self, retention_files: int | None = None, retention_s: float | None = None) -> None:
        """Retention now, without writing (optionally with other limits from now on): a test can let the
        backup catch up first, so a deletion it then sees does not depend on the machine's speed."""
        with self._lock:
            changes = {
                k: v
                for k, v in {"retention_files": retention_files, "retention_s": retention_s}.items()
                if v is not None
            }
            self.spec = replace(self.spec, **changes).validate()  # type: ignore[arg-type]
            now = self._clock()
            for instance in self.instances:
                self._retain(instance, now)

    def start(self, tick_s: float = 0.5) -> None:
        """Step every ``tick_s`` in a background thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(tick_s,), name="fleet-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            self.step()

    def _period(self, now: float) -> int:
        return int((now - self._t0) // self.spec.rotate_period_s) if self.spec.rotate_period_s else 0

    def _write(self, instance: _Instance, elapsed: float, now: float) -> None:
        spec = self.spec
        due = instance.carry + instance.rate * elapsed
        count = int(due // spec.line_bytes)
        instance.carry = due - count * spec.line_bytes
        chunks: dict[int, list[bytes]] = {}
        for _ in range(count):
            chunks.setdefault(instance.next_stream, []).append(self._line(instance, now))
            instance.next_stream = (instance.next_stream + 1) % spec.streams
        probe = None
        if spec.probe_interval_s and now >= instance.next_probe:
            tag = f"fleet-probe-{spec.run_id}-{instance.instance_id}-{instance.probes}"
            probe = (instance.next_stream, tag)
            chunks.setdefault(instance.next_stream, []).append(self._line(instance, now, tag))
            instance.next_stream = (instance.next_stream + 1) % spec.streams
            instance.next_probe = now + spec.probe_interval_s
        for k, lines in chunks.items():
            stream = instance.streams[k]
            data = b"".join(lines)
            with open(stream.active, "ab") as handle:
                handle.write(data)
            os.utime(stream.active, (now, now))
            stream.size += len(data)
            stream.last_write = now
            self.produced += len(data)
            if stream.size >= spec.rotate_bytes:
                self._rotate(stream)
        if probe is not None:
            self.probes.append(Probe(instance.instance_id, instance.probes, probe[1], self._clock()))
            instance.probes += 1

    def _line(self, instance: _Instance, now: float, tag: str | None = None) -> bytes:
        """One line in Aurora's format (epoch microseconds, CSV, the SQL text quoted), ``line_bytes`` long."""
        instance.queries += 1
        q = instance.queries
        sql = f"SELECT /* {tag} */ 1" if tag else f"SELECT c FROM orders WHERE id={q}"
        head = f"{int(now * 1e6)},{instance.instance_id},app,10.0.0.{q % 250 + 1},{q % 97},{q},QUERY,shop,'"
        tail = "',0\n"
        pad = max(0, self.spec.line_bytes - len(head) - len(sql) - len(tail) - 3)
        return f"{head}{sql} --{'x' * pad}{tail}".encode()

    def _rotate(self, stream: _Stream) -> None:
        stream.rotations += 1
        target = stream.directory / f"{AUDIT_BASENAME}.{_ROTATED_BASE - stream.rotations}"
        os.rename(stream.active, target)
        stream.rotated.append((target, stream.last_write))
        stream.size = 0
        self.rotations += 1

    def _retain(self, instance: _Instance, now: float) -> None:
        spec = self.spec
        rotated = sorted(
            ((last, stream, path) for stream in instance.streams for path, last in stream.rotated),
            key=lambda entry: entry[0],
        )
        active = sum(1 for stream in instance.streams if stream.size)
        doomed: list[tuple[_Stream, Path]] = []
        for last, stream, path in rotated:
            too_old = spec.retention_s and now - last > spec.retention_s
            too_many = spec.retention_files and active + len(rotated) - len(doomed) > spec.retention_files
            if not (too_old or too_many):
                break  # the rest are younger
            doomed.append((stream, path))
        if doomed:
            self._delete(instance, doomed)

    def _delete(self, instance: _Instance, doomed: list[tuple[_Stream, Path]]) -> None:
        audit = self.audit.get(instance.instance_id)
        names = {f.path: f.name for f in audit.files()} if audit else {}  # as the emulator lists them
        for stream, path in doomed:
            data = path.read_bytes()
            self.deleted.append(
                DeletedFile(
                    instance.instance_id, names.get(path), len(data), hashlib.sha256(data).hexdigest()
                )
            )
            path.unlink()
            stream.rotated = [(p, last) for p, last in stream.rotated if p != path]

    # -- what a bench or test reads ------------------------------------------------------------------------
    def files_on_disk(self, instance_id: str) -> dict[Path, int]:
        """Every audit file of the instance on disk now: path -> size."""
        instance = next(i for i in self.instances if i.instance_id == instance_id)
        found = {}
        for stream in instance.streams:
            for entry in os.scandir(stream.directory):
                if entry.name.startswith(AUDIT_BASENAME):
                    found[Path(entry.path)] = entry.stat().st_size
        return found


__all__ = ["DeletedFile", "FleetSpec", "FleetSpecError", "Probe", "SyntheticFleet"]
