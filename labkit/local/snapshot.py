"""The lab's AWS account on disk: the emulator's S3 objects and DynamoDB items, kept across down/up.

moto 5.2.5 keeps every backend in memory and has no way to save or load it (its server has reset and
state-transition routes, nothing that persists). So the lab service takes a snapshot itself, every
``snapshot_interval_s`` and at ``labkit local down``, and restores it at ``up`` after the local deploy made
the bucket, table and queues again.

What comes back, and why it stays consistent:

* S3, read and written through moto's backend in-process (the emulator is this process): every version of
  every object, delete markers included, with its version id, ETag, metadata, Last-Modified, encryption and
  Object Lock fields, byte for byte. Manifests list parts by ETag and VersionId, so an upload through the
  API (new ids, a multipart ETag lost) would not do. Bodies are stored once per sha256 under ``blobs/``.
* The emulator's aurora file names (the name each inode was given at first sight, with the time in it):
  without them every file would get a new name at restart, look new, and be copied again.
* The tracking table's items, through the API. The table is read *before* S3, so S3 can only be ahead of the
  table, never behind it: a part the snapshot's table does not count yet is adopted by the downloader's
  next copy (If-None-Match refuses the rewrite; :func:`labkit.backup.s3parts.existing_part`).
* The stream: restoring an item is an INSERT, and the stream's filter criteria wake the downloader only for
  the detector's writes and hand-overs, so a finished file's record is dropped before it reaches the
  function. An unfinished file may have lost its wake-up with the old process (a record not yet delivered,
  a retry waiting, a copy killed with its lease held): its lease is cleared (no copy outlives the process)
  and it is restored as a hand-over (``writer = downloader-continue``), so its copy resumes. Sequence numbers
  go on from where the old stream stopped, so a restored ``failed_owner`` never names a new record.

Not kept: SQS messages (the scanner sends its messages again at the next tick), multipart uploads in
progress (the copy that made them is gone; its retry starts again) and the KMS key (the local deploy makes a
new one; restored objects keep the key id they were written with).

Written atomically: blobs and the JSON go to temporary files, then are renamed; a snapshot is never half
written. A snapshot that cannot be read is an error that names the file, never silently dropped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labkit import aws
from labkit.backup.streamfilter import CONTINUE_WRITER, DETECTOR_WRITER
from labkit.config import LOCAL_ACCOUNT_ID, LabConfig
from labkit.errors import LabkitError
from labkit.local.emulator.logfiles import AuditFiles

log = logging.getLogger(__name__)

FORMAT = "labkit-lab-snapshot/1"
SNAPSHOT_DIR = "snapshot"
SNAPSHOT_FILE = "snapshot.json"
_KEY_FIELDS = (
    "encryption",
    "kms_key_id",
    "bucket_key_enabled",
    "lock_mode",
    "lock_legal_status",
    "lock_until",
    "checksum_value",
    "checksum_type",
    "checksum_parts",
    "checksum_algorithm",
    "website_redirect_location",
)


class SnapshotError(LabkitError):
    """The lab's snapshot cannot be read or restored."""


@dataclass(frozen=True)
class Restored:
    """What a restore brought back: the counts ``labkit local up`` prints."""

    taken_at: float
    buckets: int
    objects: int  # object versions, delete markers included
    object_bytes: int
    items: int
    resumed: int  # unfinished files handed to the downloader again
    leases_cleared: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_dir(config: LabConfig) -> Path:
    return Path(config.state_dir) / SNAPSHOT_DIR


def snapshot_file(config: LabConfig) -> Path:
    return snapshot_dir(config) / SNAPSHOT_FILE


def discard(config: LabConfig) -> bool:
    """Delete the snapshot (``up --fresh``); True when there was one."""
    directory = snapshot_dir(config)
    had = snapshot_file(config).exists()
    if directory.exists():
        for path in sorted(directory.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        directory.rmdir()
    return had


class LabSnapshot:
    """Takes and restores snapshots of one lab's emulator (``config.endpoint_url`` set, in-process moto).

    ``directories``: the emulator's audit directories by instance; their aurora names are kept too, so a
    file keeps its name (and its S3 keys) across the restart."""

    def __init__(self, config: LabConfig, directories: Callable[[], dict[str, AuditFiles]]) -> None:
        self.config = config
        self.directories = directories
        self.directory = snapshot_dir(config)
        self.blobs = self.directory / "blobs"
        self._lock = threading.Lock()
        self._digests: dict[tuple[Any, ...], str] = {}  # an object version's body never changes

    # -- taking ------------------------------------------------------------------------------------------
    def take(self) -> Path:
        """Write a snapshot now (the table first, then S3: S3 may be ahead of the table, never behind)."""
        with self._lock:
            self.blobs.mkdir(parents=True, exist_ok=True, mode=0o700)
            document = {
                "format": FORMAT,
                "taken_at": datetime.datetime.now(datetime.UTC).timestamp(),
                "tables": {self.config.names.table: self._table()},
                "buckets": self._buckets(),
                "log_file_names": {i: d.naming_state() for i, d in self.directories().items()},
            }
            path = self.directory / SNAPSHOT_FILE
            _write_atomically(path, json.dumps(document).encode())
            self._collect_garbage(document)
            return path

    def _table(self) -> dict[str, Any]:
        ddb = aws.client("dynamodb", self.config)
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(
            TableName=self.config.names.table, ConsistentRead=True
        ):
            items.extend(page.get("Items", []))
        shard = _table_backend(self.config).stream_shard
        next_sequence = shard.starting_sequence_number + len(shard.items) if shard else 0
        return {"items": items, "stream_next_sequence": next_sequence}

    def _buckets(self) -> dict[str, Any]:
        buckets: dict[str, Any] = {}
        for name, bucket in list(_s3_backend().buckets.items()):
            objects = []
            for key_name, versions in bucket.keys.iterlists():
                objects.append(
                    {"key": key_name, "versions": [self._version(name, v) for v in list(versions)]}
                )
            buckets[name] = {"versioning": bucket.versioning_status, "objects": objects}
        return buckets

    def _version(self, bucket: str, version: Any) -> dict[str, Any]:
        stamp = version.last_modified.isoformat()
        if not hasattr(version, "value"):  # a delete marker
            return {"delete_marker": True, "version_id": version.version_id, "last_modified": stamp}
        cache_key = (bucket, version.name, version._version_id, version.etag, stamp)
        digest = self._digests.get(cache_key)
        if digest is None:
            body = version.value
            digest = hashlib.sha256(body).hexdigest()
            blob = self.blobs / digest
            if not blob.exists():
                _write_atomically(blob, body)
            self._digests[cache_key] = digest
        return {
            "version_id": version._version_id,
            "is_versioned": version._is_versioned,
            "etag": version.etag.strip('"'),
            "last_modified": stamp,
            "size": version.size,
            "sha256": digest,
            "metadata": dict(version.metadata),
            "storage_class": version.storage_class,
            **{f: getattr(version, f, None) for f in _KEY_FIELDS},
        }

    def _collect_garbage(self, document: dict[str, Any]) -> None:
        wanted = {
            v["sha256"]
            for b in document["buckets"].values()
            for o in b["objects"]
            for v in o["versions"]
            if "sha256" in v
        }
        for blob in self.blobs.iterdir():
            if blob.name not in wanted:
                blob.unlink(missing_ok=True)

    # -- restoring ---------------------------------------------------------------------------------------
    def restore(self) -> Restored | None:
        """Bring the last snapshot back into the emulator (after the local deploy, before the runtime
        starts); None when there is none. Raises SnapshotError, naming the file, when it cannot be read."""
        path = self.directory / SNAPSHOT_FILE
        if not path.exists():
            return None
        document = self._read(path)
        counts = _Counts()
        directories = self.directories()
        for instance_id, naming in document.get("log_file_names", {}).items():
            if instance_id in directories:
                directories[instance_id].restore_naming(naming)
        for name, bucket in document["buckets"].items():
            self._restore_bucket(path, name, bucket, counts)
        for name, table in document["tables"].items():
            self._restore_table(name, table, counts)
        restored = Restored(document["taken_at"], **asdict(counts))
        log.info("restored the lab snapshot %s: %s", path, json.dumps(restored.to_dict()))
        return restored

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            document = json.loads(path.read_bytes())
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} document")
            if not isinstance(document.get("buckets"), dict) or not isinstance(document.get("tables"), dict):
                raise ValueError("no buckets or tables")
        except (OSError, ValueError) as exc:
            raise corrupt(path, str(exc)) from exc
        return document

    def _restore_bucket(self, path: Path, name: str, bucket: dict[str, Any], counts: _Counts) -> None:
        from moto.s3.models import FakeDeleteMarker, FakeKey

        backend = _s3_backend()
        if name not in backend.buckets:
            backend.create_bucket(name, self.config.region)
        target = backend.buckets[name]
        if bucket.get("versioning"):
            target.versioning_status = bucket["versioning"]
        counts.buckets += 1
        for entry in bucket["objects"]:
            versions: list[Any] = []
            for v in entry["versions"]:
                stamp = datetime.datetime.fromisoformat(v["last_modified"])
                if v.get("delete_marker"):
                    anchor = (
                        versions[-1]
                        if versions
                        else FakeKey(entry["key"], b"", LOCAL_ACCOUNT_ID, self.config.region)
                    )
                    marker = FakeDeleteMarker(anchor)
                    marker._version_id, marker.last_modified = v["version_id"], stamp
                    versions.append(marker)
                    counts.objects += 1
                    continue
                body = self._blob(path, v["sha256"])
                key = FakeKey(
                    entry["key"],
                    body,
                    LOCAL_ACCOUNT_ID,
                    self.config.region,
                    storage=v.get("storage_class"),
                    etag=v["etag"],
                    is_versioned=v["is_versioned"],
                    version_id=v["version_id"],
                    bucket_name=name,
                )
                key.last_modified = stamp
                key.set_metadata(dict(v["metadata"]), replace=True)
                for field_name in _KEY_FIELDS:
                    setattr(key, field_name, v.get(field_name))
                versions.append(key)
                counts.objects += 1
                counts.object_bytes += len(body)
            target.keys.setlist(entry["key"], versions)

    def _blob(self, path: Path, digest: str) -> bytes:
        blob = self.blobs / digest
        try:
            body = blob.read_bytes()
        except OSError as exc:
            raise corrupt(path, f"object body {blob} is missing ({exc})") from exc
        if hashlib.sha256(body).hexdigest() != digest:
            raise corrupt(path, f"object body {blob} does not match its sha256")
        return body

    def _restore_table(self, name: str, table: dict[str, Any], counts: _Counts) -> None:
        backend_table = _table_backend(self.config, name)
        shard = backend_table.stream_shard
        if shard is not None and not shard.items:  # sequence numbers go on from the old stream's
            shard.starting_sequence_number = max(
                shard.starting_sequence_number, int(table.get("stream_next_sequence") or 0)
            )
        ddb = aws.client("dynamodb", self.config)
        for item in table["items"]:
            resumed, cleared = _resumable(item)
            counts.resumed += resumed
            counts.leases_cleared += cleared
            ddb.put_item(TableName=name, Item=item)
            counts.items += 1


@dataclass
class _Counts:
    buckets: int = 0
    objects: int = 0
    object_bytes: int = 0
    items: int = 0
    resumed: int = 0
    leases_cleared: int = 0


def _resumable(item: dict[str, Any]) -> tuple[int, int]:
    """Make a restored item carry on (in place, DynamoDB JSON): clear a lease (its copy died with the old
    process) and hand an unfinished file to the downloader. Returns (resumed, lease cleared) as 0/1."""
    cleared = 0
    if "lease_owner" in item or "lease_until" in item:
        item.pop("lease_owner", None)
        item.pop("lease_until", None)
        cleared = 1
        if item.get("state", {}).get("S") == "COPYING":
            copied = int(item.get("copied_bytes", {}).get("N", "0"))
            item["state"] = {"S": "PARTIAL" if copied else "DETECTED"}
    state = item.get("state", {}).get("S")
    unfinished = (
        state not in ("LOST", "FAILED")
        and "vanished_at" not in item
        and int(item.get("copied_bytes", {}).get("N", "0")) < int(item.get("size", {}).get("N", "0"))
    )
    if unfinished and item.get("writer", {}).get("S") not in (DETECTOR_WRITER, CONTINUE_WRITER):
        item["writer"] = {"S": CONTINUE_WRITER}
        return 1, cleared
    return int(unfinished), cleared


def corrupt(path: Path, why: str) -> SnapshotError:
    return SnapshotError(
        f"the lab snapshot {path} cannot be restored: {why}. Start from nothing with "
        "`labkit local up --fresh` (it discards the snapshot and the archive in it), or move the "
        f"{path.parent} directory away first to keep it"
    )


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _s3_backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[LOCAL_ACCOUNT_ID]["aws"]


def _table_backend(config: LabConfig, name: str | None = None) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[LOCAL_ACCOUNT_ID][config.region].tables[name or config.names.table]


class PeriodicSnapshots:
    """A daemon thread taking a snapshot every ``interval_s`` (none when 0); a failed one is logged and
    the previous snapshot stays."""

    def __init__(self, snapshot: LabSnapshot, interval_s: float) -> None:
        self.snapshot, self.interval_s = snapshot, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-snapshots", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.snapshot.take()
            except Exception:  # keep the previous snapshot and try again next period
                log.exception("lab snapshot failed; the previous one is kept")
