"""`labkit verify --manifests`: the archive against its own hash-chained manifests, from S3 alone.

Per instance: the chain (sequences 1..n, each manifest recording the key and sha256 of the one before it, no
manifest key with a second S3 version or a delete marker), each day's revisions (a later one keeps every part
an earlier one listed), and every part the day's newest manifest lists (present, one whole gzip stream, its
decompressed bytes of the recorded length and sha256, and each file's bytes hashing to the file's sha256).
A part of a closed day (before ``today``, UTC) that no manifest lists is a finding too; today's partition is
still growing, so its unlisted parts are only counted as pending.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.backup.manifest import (
    DAY,
    FORMAT,
    MANIFEST_KEY,
    ManifestRef,
    StoredPart,
    digest_part,
    list_manifests,
    list_parts,
    manifests_root,
)

ARCHIVED = "archived"  # in GLACIER/DEEP_ARCHIVE: cannot be read until restored
CHAIN, REWRITTEN, REVISION, PART_MISSING, PART_CHANGED, FILE_CHANGED, UNLISTED, NO_MANIFEST = (
    "chain broken",
    "manifest rewritten",
    "revision dropped a part",
    "part missing",
    "part changed",
    "file changed",
    "part not in manifest",
    "no manifest",
)


@dataclass(frozen=True)
class Finding:
    instance_id: str
    date: str
    kind: str
    subject: str  # an S3 key (or a file identity)
    detail: str


@dataclass
class ManifestCheck:
    findings: list[Finding] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # instance -> newest sequence, sha256
    manifests: int = 0
    parts_checked: int = 0
    bytes_checked: int = 0
    pending_parts: int = 0  # today's parts not listed yet

    @property
    def clean(self) -> bool:
        return not self.findings

    def add(self, instance_id: str, date: str, kind: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(instance_id, date, kind, subject, detail))

    def summary(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "manifests": self.manifests,
            "parts_checked": self.parts_checked,
            "bytes_checked": self.bytes_checked,
            "pending_parts": self.pending_parts,
            "heads": {i: {"sequence": s, "sha256": h} for i, (s, h) in sorted(self.heads.items())},
            "findings": [f.__dict__ for f in self.findings],
        }


def verify_manifests(s3: Any, bucket: str, prefix: str, *, today: str | None = None) -> ManifestCheck:
    """Check every instance's chain and every listed part; ``today`` (YYYY-MM-DD, default UTC now) is the
    first day still open."""
    today = today or time.strftime("%Y-%m-%d", time.gmtime())
    check = ManifestCheck()
    refs = list_manifests(s3, bucket, prefix)
    parts = list_parts(s3, bucket, prefix)
    edited = _edited_manifests(s3, bucket, prefix)
    instances = sorted({r.instance_id for r in refs} | {p.instance_id for p in parts})
    for key, detail in sorted(edited.items()):  # deleted outright: no current object, only its versions
        match = MANIFEST_KEY.search(key)
        if match and key not in {r.key for r in refs}:
            check.add(match["instance"], "?", REWRITTEN, key, detail)
    for instance in instances:
        _check_instance(
            s3,
            bucket,
            instance,
            [r for r in refs if r.instance_id == instance],
            edited,
            [p for p in parts if p.instance_id == instance],
            today,
            check,
        )
    return check


def _edited_manifests(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """A manifest key is written once (If-None-Match): a second version or a delete marker is an edit.
    (Without versioning on the bucket this sees nothing; the stack and the local lab turn it on.)"""
    counts: dict[str, int] = defaultdict(int)
    deleted: set[str] = set()
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=manifests_root(prefix))
    for page in pages:
        for v in page.get("Versions", []):
            counts[v["Key"]] += 1
        deleted.update(m["Key"] for m in page.get("DeleteMarkers", []))
    return {
        key: f"{counts[key]} version(s){' and a delete marker' if key in deleted else ''}: a manifest is "
        "written once; list its versions (aws s3api list-object-versions) to see the original"
        for key in sorted(set(counts) | deleted)
        if counts[key] > 1 or key in deleted
    }


def _check_instance(
    s3: Any,
    bucket: str,
    instance: str,
    refs: list[ManifestRef],
    edited: dict[str, str],
    parts: list[StoredPart],
    today: str,
    check: ManifestCheck,
) -> None:
    documents: dict[int, dict[str, Any]] = {}
    previous: tuple[ManifestRef, dict[str, Any], str] | None = None
    expected = 1
    for ref in refs:
        check.manifests += 1
        if ref.sequence != expected:
            check.add(
                instance,
                "?",
                CHAIN,
                ref.key,
                f"sequence {ref.sequence} where {expected} was due: manifest(s) "
                f"{expected}..{ref.sequence - 1} are gone"
                if ref.sequence > expected
                else "a duplicate sequence",
            )
        expected = ref.sequence + 1
        try:
            body = s3.get_object(Bucket=bucket, Key=ref.key)["Body"].read()
            document = json.loads(body)
        except (ClientError, ValueError) as exc:
            kind = ARCHIVED if aws.error_code(exc) == "InvalidObjectState" else CHAIN
            check.add(instance, "?", kind, ref.key, f"unreadable manifest: {_unreadable(exc)}")
            previous = None
            continue
        sha = hashlib.sha256(body).hexdigest()
        if ref.key in edited:
            check.add(instance, str(document.get("date")), REWRITTEN, ref.key, edited[ref.key])
        _check_header(ref, document, previous, check)
        documents[ref.sequence] = document
        previous = (ref, document, sha)
        check.heads[instance] = (ref.sequence, sha)
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sequence in sorted(documents):
        by_day[documents[sequence].get("date", "?")].append(documents[sequence])
    for day, revisions in sorted(by_day.items()):
        _check_revisions(instance, day, revisions, check)
        _check_parts(s3, bucket, instance, day, revisions[-1], check)
    listed = {p["key"] for d in documents.values() for f in d.get("files", []) for p in f.get("parts", [])}
    unlisted_days: dict[str, list[StoredPart]] = defaultdict(list)
    for p in parts:
        if p.key not in listed:
            unlisted_days[p.date].append(p)
    for day, mine in sorted(unlisted_days.items()):
        if day >= today:
            check.pending_parts += len(mine)
        elif day not in by_day:
            check.add(
                instance,
                day,
                NO_MANIFEST,
                f"{len(mine)} part(s)",
                "a closed day with parts and no "
                "manifest: run `labkit manifest --day " + day + "` (or its manifest was deleted)",
            )
        else:
            for p in mine:
                check.add(
                    instance,
                    day,
                    UNLISTED,
                    p.key,
                    "in S3 but in no manifest of its day: inserted, or "
                    f"written after the manifest (then run `labkit manifest --day {day}`)",
                )


def _check_header(
    ref: ManifestRef,
    document: dict[str, Any],
    previous: tuple[ManifestRef, dict[str, Any], str] | None,
    check: ManifestCheck,
) -> None:
    day = str(document.get("date"))
    said = (document.get("format"), document.get("instance"), document.get("sequence"))
    if said != (FORMAT, ref.instance_id, ref.sequence) or not DAY.fullmatch(day):
        check.add(ref.instance_id, day, CHAIN, ref.key, f"its content says {said} {day}, its key another")
    link = document.get("previous")
    days_before = previous[1].get("days", {}) if previous else {}
    if document.get("days") != {**days_before, day: ref.sequence}:
        check.add(ref.instance_id, day, CHAIN, ref.key, "its index of days does not extend the previous one")
    if ref.sequence == 1 and link is None:
        return
    if previous is None or not isinstance(link, dict):
        check.add(ref.instance_id, day, CHAIN, ref.key, f"links to {link}, which cannot be checked")
    elif link.get("key") != previous[0].key:
        check.add(
            ref.instance_id,
            day,
            CHAIN,
            str(link.get("key")),
            f"{ref.key} links to this manifest, which is gone (the chain has {previous[0].key} before it)",
        )
    elif link.get("sha256") != previous[2]:
        check.add(
            ref.instance_id,
            str(previous[1].get("date")),
            CHAIN,
            previous[0].key,
            f"its sha256 is {previous[2][:16]}..., but the next manifest ({ref.key}) recorded "
            f"{str(link.get('sha256'))[:16]}...: rewritten or replaced",
        )


def _check_revisions(instance: str, day: str, revisions: list[dict[str, Any]], check: ManifestCheck) -> None:
    for older, newer in itertools.pairwise(revisions):
        kept = {p["key"]: p for f in newer.get("files", []) for p in f.get("parts", [])}
        for f in older.get("files", []):
            for p in f.get("parts", []):
                now = kept.get(p["key"])
                if now is None or (now["sha256"], now["start"], now["end"]) != (
                    p["sha256"],
                    p["start"],
                    p["end"],
                ):
                    check.add(
                        instance,
                        day,
                        REVISION,
                        p["key"],
                        f"listed by manifest {older.get('sequence')}, "
                        f"{'absent from' if now is None else 'different in'} {newer.get('sequence')}",
                    )


def _check_parts(
    s3: Any, bucket: str, instance: str, day: str, document: dict[str, Any], check: ManifestCheck
) -> None:
    for f in document.get("files", []):
        whole, intact = hashlib.sha256(), True
        for p in f.get("parts", []):
            check.parts_checked += 1
            try:
                d = digest_part(s3, bucket, p["key"], whole)
            except ClientError as exc:
                code = aws.error_code(exc)
                kind = {"NoSuchKey": PART_MISSING, "404": PART_MISSING, "InvalidObjectState": ARCHIVED}
                check.add(instance, day, kind.get(code, PART_CHANGED), p["key"], _unreadable(exc))
                intact = False
                continue
            except (ValueError, zlib.error) as exc:
                check.add(instance, day, PART_CHANGED, p["key"], f"not the gzip part it was: {exc}")
                intact = False
                continue
            check.bytes_checked += d.length
            if (d.sha256, d.length) != (p["sha256"], p["end"] - p["start"]):
                check.add(
                    instance,
                    day,
                    PART_CHANGED,
                    p["key"],
                    f"decompressed sha256 {d.sha256[:16]}... "
                    f"({d.length} bytes), manifest says {p['sha256'][:16]}... ({p['end'] - p['start']})",
                )
                intact = False
        if intact and whole.hexdigest() != f.get("sha256"):
            check.add(
                instance,
                day,
                FILE_CHANGED,
                f.get("file_id", "?"),
                "its parts hash to another sha256 than the manifest records",
            )


def _unreadable(exc: Exception) -> str:
    if aws.error_code(exc) == "InvalidObjectState":
        return "in an archive storage class: restore it (aws s3api restore-object), then verify again"
    return f"cannot read it: {aws.error_code(exc) or exc}"
