"""Tamper-evident manifests: per instance and day, what the backup holds, chained by hash.

``<prefix>/manifests/instance=<i>/manifest-<sequence>.json`` covers one day partition (``date`` inside) of
one instance: every part (key, source byte range, sha256 of its decompressed bytes, ETag, VersionId) grouped by
source file identity, with each file's byte count and the sha256 of all its backed-up bytes in part order.
Manifests live outside the parts' partitions, so query engines never read them.

The chain is per instance and ordered by ``sequence`` (1, 2, 3 ...): each manifest records the key and sha256
of the one before it, and an index of every day's newest manifest (so a writer reads only the chain head).
Deleting or rewriting any manifest but the newest breaks the next link; the newest is guarded by S3
versioning / Object Lock (a rewrite leaves versions behind) and by the parts it lists. The key depends on the
instance and sequence only, so S3's conditional write (If-None-Match) makes appending to the chain a
compare-and-swap: two concurrent writers cannot both become sequence n.

A day partition can gain parts after its manifest was written (parts go under the day a file was detected,
and a file keeps growing): writing that day again appends a new *revision* (next sequence, same day) that
must list everything the previous revision listed, unchanged - so a later run can never launder a deleted or
edited part. Writing a day whose parts did not change writes nothing (idempotent).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.errors import BackupError, BadInputError
from labkit.backup.layout import DAY, PartKey, PartRef, check_identifier

FORMAT = "labkit-manifest/1"
MANIFESTS = "manifests"
MANIFEST_KEY = re.compile(r"/instance=(?P<instance>[^/]+)/manifest-(?P<sequence>\d+)\.json$")


class ManifestError(BackupError):
    """A manifest cannot be written as asked."""


class ManifestConflictError(ManifestError):
    """The archive no longer matches what an earlier manifest recorded, or another writer got there first."""


@dataclass(frozen=True)
class StoredPart:
    key: str
    cluster_id: str
    instance_id: str
    date: str
    file_id: str
    number: int
    etag: str


@dataclass(frozen=True)
class ManifestRef:
    key: str
    instance_id: str
    sequence: int


@dataclass(frozen=True)
class PartDigest:
    sha256: str
    length: int
    metadata: dict[str, str]
    etag: str
    version_id: str | None
    compressed_bytes: int


@dataclass(frozen=True)
class ManifestOutcome:
    key: str
    sequence: int
    sha256: str
    written: bool  # False: the day's newest manifest already listed exactly these parts
    files: int
    parts: int
    bytes: int


def manifests_root(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/{MANIFESTS}/"


def manifest_key(prefix: str, instance_id: str, sequence: int) -> str:
    instance = check_identifier(instance_id, "instance id")
    return f"{manifests_root(prefix)}instance={instance}/manifest-{sequence:06d}.json"


def check_day(day: str) -> str:
    if not isinstance(day, str) or not DAY.fullmatch(day):
        raise BadInputError(f"invalid day {day!r}: expected YYYY-MM-DD (the S3 layout's date= partition)")
    return day


def part_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[dict[str, Any], PartRef]]:
    """Every backup part under ``prefix`` as S3 lists it (Key, Size, ETag...), with its parsed key;
    manifests and foreign objects skipped. The one listing of parts every reader shares."""
    root, manifests = prefix.rstrip("/") + "/", manifests_root(prefix)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for obj in page.get("Contents", []):
            ref = None if obj["Key"].startswith(manifests) else PartKey.parse(obj["Key"])
            if ref:
                yield obj, ref


def list_parts(s3: Any, bucket: str, prefix: str) -> list[StoredPart]:
    """Every backup part under ``prefix`` (manifests and foreign objects skipped)."""
    return [
        StoredPart(
            obj["Key"],
            ref.file.cluster_id,
            ref.file.instance_id,
            ref.file.date,
            ref.file.file_id,
            ref.part,
            obj.get("ETag", ""),
        )
        for obj, ref in part_objects(s3, bucket, prefix)
    ]


def list_manifests(s3: Any, bucket: str, prefix: str) -> list[ManifestRef]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=manifests_root(prefix)):
        for obj in page.get("Contents", []):
            if match := MANIFEST_KEY.search(obj["Key"]):
                found.append(ManifestRef(obj["Key"], match["instance"], int(match["sequence"])))
    return sorted(found, key=lambda r: (r.instance_id, r.sequence, r.key))


def manifested_days(s3: Any, bucket: str, prefix: str) -> set[tuple[str, str]]:
    """(instance, day) for every day some manifest covers, from each instance's chain head."""
    heads: dict[str, ManifestRef] = {}
    for ref in list_manifests(s3, bucket, prefix):
        heads[ref.instance_id] = ref  # sorted by sequence: the last one wins
    return {(i, day) for i, ref in heads.items() for day in read_manifest(s3, bucket, ref.key)[1]["days"]}


def digest_part(s3: Any, bucket: str, key: str, whole: Any = None) -> PartDigest:
    """Stream one part, decompressing and hashing its source bytes (also into ``whole`` when given).

    Raises ClientError when the object cannot be read, ValueError when it is not exactly one gzip stream."""
    answer = s3.get_object(Bucket=bucket, Key=key)
    inflate, sha, length, compressed = zlib.decompressobj(31), hashlib.sha256(), 0, 0
    for chunk in answer["Body"].iter_chunks(1024 * 1024):
        compressed += len(chunk)
        if inflate.eof:
            raise ValueError("bytes after the end of the gzip stream")
        data = inflate.decompress(chunk)
        sha.update(data)
        length += len(data)
        if whole is not None:
            whole.update(data)
    if not inflate.eof or inflate.unused_data:
        raise ValueError("not exactly one whole gzip stream")
    return PartDigest(
        sha.hexdigest(),
        length,
        dict(answer.get("Metadata", {})),
        answer.get("ETag", ""),
        answer.get("VersionId"),
        compressed,
    )


def read_manifest(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body, json.loads(body)


def encode(document: dict[str, Any]) -> bytes:
    """Canonical bytes: the same content always gives the same object."""
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def write_manifests(s3: Any, bucket: str, prefix: str, instance: str, day: str) -> ManifestOutcome | None:
    """Write (or confirm) the manifest of one instance's day partition; None when the day has no parts.

    A part not listed before is read in full and must match the sha256 and range its metadata records (a
    manifest never vouches for bytes that were already wrong). Raises ManifestConflictError when a part an
    earlier revision listed is gone or changed: run ``labkit verify --manifests`` and investigate."""
    check_identifier(instance, "instance id")
    check_day(day)
    chain = [r for r in list_manifests(s3, bucket, prefix) if r.instance_id == instance]
    parts = sorted(
        (p for p in list_parts(s3, bucket, prefix) if p.instance_id == instance and p.date == day),
        key=lambda p: (p.file_id, p.number),
    )
    index: dict[str, int] = {}
    if chain:
        head_body, head = read_manifest(s3, bucket, chain[-1].key)
        index = dict(head["days"])
    latest: dict[str, Any] = {"files": []}
    latest_body = b""
    latest_key = manifest_key(prefix, instance, index[day]) if day in index else ""
    if latest_key:  # the chain's head is often the day's newest: not read twice
        latest_body, latest = (
            (head_body, head) if latest_key == chain[-1].key else read_manifest(s3, bucket, latest_key)
        )
    before = {p["key"]: p for f in latest["files"] for p in f["parts"]}
    if not parts and not latest_key:
        return None
    files = _file_entries(s3, bucket, parts, latest["files"])
    listed = {p["key"]: p for f in files for p in f["parts"]}
    for key, old in before.items():
        new = listed.get(key)
        if new is None or any(new[k] != old[k] for k in ("sha256", "start", "end")):
            raise ManifestConflictError(
                f"{key}: manifest {latest_key} lists this part, but it is "
                f"{'gone' if new is None else 'changed'}; the archive was altered - run "
                "`labkit verify --manifests` and restore the part from its S3 versions before writing again"
            )
    totals = {
        "files": len(files),
        "parts": len(listed),
        "bytes": sum(f["bytes"] for f in files),
    }
    if latest_key and files == latest["files"]:
        return ManifestOutcome(
            latest_key, index[day], hashlib.sha256(latest_body).hexdigest(), False, **totals
        )
    previous = None
    if chain:
        previous = {"key": chain[-1].key, "sha256": hashlib.sha256(head_body).hexdigest()}
    sequence = chain[-1].sequence + 1 if chain else 1
    key = manifest_key(prefix, instance, sequence)
    document = {
        "format": FORMAT,
        "instance": instance,
        "clusters": sorted({p.cluster_id for p in parts}),
        "date": day,
        "sequence": sequence,
        "previous": previous,
        "days": {**index, day: sequence},  # every day's newest manifest, this one included
        "files": files,
        "totals": totals,
    }
    body = encode(document)
    try:  # If-None-Match: a manifest key is written once; a concurrent writer loses instead of overwriting
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            IfNoneMatch="*",
            ChecksumAlgorithm="CRC32",  # Object Lock default retention refuses a PUT without a checksum
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise ManifestConflictError(
                f"{key} was written by another run at the same time: run `labkit manifest` again"
            ) from exc
        raise ManifestError(f"could not write {key} to s3://{bucket}: {exc}") from exc
    return ManifestOutcome(key, sequence, hashlib.sha256(body).hexdigest(), True, **totals)


def _file_entries(s3: Any, bucket: str, parts: list[StoredPart], listed: list[Any]) -> list[dict[str, Any]]:
    """One entry per file identity. A file whose parts are exactly those the day's newest manifest lists,
    with the same ETags, keeps its entry without being read again (verify reads everything)."""
    by_file: dict[str, list[StoredPart]] = defaultdict(list)
    for p in parts:
        by_file[p.file_id].append(p)
    old = {f["file_id"]: f for f in listed}
    before = {p["key"]: p for f in listed for p in f["parts"]}
    entries = []
    for file_id, mine in sorted(by_file.items()):
        kept = old.get(file_id)
        if kept and [(p["key"], p["etag"]) for p in kept["parts"]] == [
            (p.key, p.etag.strip('"')) for p in mine
        ]:
            entries.append(kept)
        else:
            entries.append(_file_entry(s3, bucket, file_id, mine, before))
    return entries


def _file_entry(
    s3: Any, bucket: str, file_id: str, parts: list[StoredPart], before: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    whole, source_file = hashlib.sha256(), ""
    rows: list[dict[str, Any]] = []
    for p in parts:
        try:
            d = digest_part(s3, bucket, p.key, whole)
        except (ClientError, ValueError, zlib.error) as exc:
            raise ManifestError(f"{p.key}: cannot read this part ({exc}); run `labkit verify`") from exc
        meta = d.metadata
        if p.key not in before:  # a new part: its bytes must be what the copy recorded
            start, end = int(meta.get("source-start", -1)), int(meta.get("source-end", -1))
            if meta.get("source-sha256") != d.sha256 or end - start != d.length:
                raise ManifestError(
                    f"{p.key}: its bytes do not match the sha256/range in its metadata; it was altered or "
                    "damaged before any manifest listed it - run `labkit verify` before writing manifests"
                )
        source_file = meta.get("source-file", source_file)
        rows.append(
            {
                "key": p.key,
                "number": p.number,
                "start": int(meta.get("source-start", 0)),
                "end": int(meta.get("source-end", 0)),
                "sha256": d.sha256,
                "compressed_bytes": d.compressed_bytes,
                "etag": d.etag.strip('"'),
                "version_id": d.version_id,
            }
        )
    return {
        "file_id": file_id,
        "source_file": source_file,
        "bytes": sum(r["end"] - r["start"] for r in rows),
        "sha256": whole.hexdigest(),
        "parts": rows,
    }
