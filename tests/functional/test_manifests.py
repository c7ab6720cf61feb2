"""Tamper-evident manifests against the emulator: parts written as the downloader writes them (GzipPartWriter,
PartKey) into a versioned bucket (as the stack and the local deploy make it); each tampering - one flipped byte
in a part, a deleted part, a rewritten manifest, a deleted manifest - must be caught by
`labkit verify --manifests`, and a clean archive must pass."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labkit.backup.layout import PartKey
from labkit.backup.manifest import (
    ManifestConflictError,
    ManifestError,
    list_manifests,
    list_parts,
    write_manifests,
)
from labkit.backup.s3parts import GzipPartWriter
from labkit.verify import (
    ARCHIVED,
    CHAIN,
    NO_MANIFEST,
    PART_CHANGED,
    PART_MISSING,
    REWRITTEN,
    UNLISTED,
    verify_manifests,
)
from tests.support.emulated import EmulatedAccount, audit_line

PREFIX = "audit-logs"
DAYS = ("2025-03-01", "2025-03-02", "2025-03-03")  # long closed, whatever the clock says
TODAY = "2025-04-01"
_buckets = itertools.count()


def lines(first: int, count: int) -> bytes:
    return b"".join(audit_line(i) for i in range(first, first + count))


class Archive:
    """One versioned bucket in the emulated account, with helpers that write and tamper like a person would."""

    def __init__(self, account: EmulatedAccount) -> None:
        self.s3 = account.client("s3")
        self.bucket = f"manifests-{next(_buckets)}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def put_part(self, instance: str, day: str, file_id: str, number: int, start: int, data: bytes) -> str:
        key = PartKey(PREFIX, f"{instance}-cluster", instance, day, file_id).key(number)
        writer = GzipPartWriter(self.s3, self.bucket, key, start)
        writer.write(data)
        writer.close({"source-file": file_id, "source-last-written": "0", "instance": instance})
        return key

    def write(self, instance: str, day: str) -> Any:
        return write_manifests(self.s3, self.bucket, PREFIX, instance, day)

    def verify(self, today: str = TODAY) -> Any:
        return verify_manifests(self.s3, self.bucket, PREFIX, today=today)

    def flip_byte(self, key: str, at: int) -> None:
        """The part's decompressed content with one byte changed, re-gzipped, its metadata kept."""
        answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        data = bytearray(gzip.decompress(answer["Body"].read()))
        data[at % len(data)] ^= 0x01
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=gzip.compress(bytes(data)), Metadata=answer["Metadata"]
        )

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def manifest_keys(self, instance: str = "db-1") -> list[str]:
        return [r.key for r in list_manifests(self.s3, self.bucket, PREFIX) if r.instance_id == instance]

    def edit_manifest(self, key: str, change: Any) -> None:
        document = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        change(document)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(document).encode())


def three_days(archive: Archive, instance: str = "db-1") -> list[str]:
    """Two files over three days, some with several parts; every day manifested in order. Part keys out."""
    keys = []
    for n, day in enumerate(DAYS):
        head = lines(n * 100, 40)
        keys.append(archive.put_part(instance, day, f"audit.log.0.{day}", 1, 0, head))
        keys.append(
            archive.put_part(instance, day, f"audit.log.0.{day}", 2, len(head), lines(n * 100 + 40, 10))
        )
        keys.append(archive.put_part(instance, day, f"audit.log.1.{day}", 1, 0, lines(n * 100 + 50, 5)))
        archive.write(instance, day)
    return keys


@pytest.fixture
def archive(account: EmulatedAccount) -> Archive:
    return Archive(account)


def kinds(check: Any) -> set[str]:
    return {f.kind for f in check.findings}


def test_a_clean_archive_passes_with_one_chain_per_instance(archive: Archive) -> None:
    three_days(archive, "db-1")
    three_days(archive, "db-2")
    check = archive.verify()
    assert check.findings == []
    assert check.manifests == 6 and check.parts_checked == 18
    assert {i: s for i, (s, _) in check.heads.items()} == {"db-1": 3, "db-2": 3}
    first = json.loads(
        archive.s3.get_object(Bucket=archive.bucket, Key=archive.manifest_keys()[0])["Body"].read()
    )
    assert first["previous"] is None and first["totals"] == {
        "files": 2,
        "parts": 3,
        "bytes": len(lines(0, 55)),
    }
    assert archive.manifest_keys()[0] == f"{PREFIX}/manifests/instance=db-1/manifest-000001.json"
    assert first["date"] == DAYS[0] and first["days"] == {DAYS[0]: 1}


def test_writing_a_day_twice_writes_nothing_new(archive: Archive) -> None:
    three_days(archive)
    again = archive.write("db-1", DAYS[1])
    assert again.written is False and again.sequence == 2
    versions = archive.s3.list_object_versions(Bucket=archive.bucket, Prefix=f"{PREFIX}/manifests/")[
        "Versions"
    ]
    assert len(versions) == 3


def test_a_day_that_gained_a_part_gets_a_revision_that_continues_the_chain(archive: Archive) -> None:
    three_days(archive)
    late = archive.put_part("db-1", DAYS[0], f"audit.log.0.{DAYS[0]}", 3, len(lines(0, 50)), lines(999, 3))
    assert kinds(archive.verify()) == {UNLISTED}  # until the day is manifested again
    revision = archive.write("db-1", DAYS[0])
    assert (revision.written, revision.sequence, revision.parts) == (True, 4, 4)
    check = archive.verify()
    assert check.findings == [] and check.heads["db-1"][0] == 4
    assert late in {
        p["key"]
        for f in json.loads(archive.s3.get_object(Bucket=archive.bucket, Key=revision.key)["Body"].read())[
            "files"
        ]
        for p in f["parts"]
    }


def test_todays_unlisted_parts_are_pending_not_findings(archive: Archive) -> None:
    three_days(archive)
    archive.put_part("db-1", TODAY, "audit.log.0.today", 1, 0, lines(0, 3))
    check = archive.verify(today=TODAY)
    assert check.findings == [] and check.pending_parts == 1
    assert kinds(archive.verify(today="2025-04-02")) == {NO_MANIFEST}


def test_one_flipped_byte_in_a_part_is_caught(archive: Archive) -> None:
    keys = three_days(archive)
    archive.flip_byte(keys[4], 1000)
    check = archive.verify()
    assert kinds(check) == {PART_CHANGED}
    assert [f.subject for f in check.findings] == [keys[4]]
    with pytest.raises(ManifestConflictError, match="changed"):  # a later run cannot launder it either
        archive.write("db-1", DAYS[1])


def test_a_deleted_part_is_caught(archive: Archive) -> None:
    keys = three_days(archive)
    archive.delete(keys[2])
    check = archive.verify()
    assert kinds(check) == {PART_MISSING} and [f.subject for f in check.findings] == [keys[2]]
    with pytest.raises(ManifestConflictError, match="gone"):
        archive.write("db-1", DAYS[0])


def test_a_rewritten_middle_manifest_breaks_the_chain(archive: Archive) -> None:
    keys = three_days(archive)
    middle = archive.manifest_keys()[1]
    archive.delete(keys[4])  # hide a deleted part by dropping it from its manifest
    archive.edit_manifest(middle, lambda d: d["files"][0]["parts"].pop())
    check = archive.verify()
    assert {CHAIN, REWRITTEN} <= kinds(check)
    assert PART_MISSING not in kinds(check)  # the edited manifest no longer lists it ...
    assert any(f.kind == CHAIN and f.subject == middle for f in check.findings)  # ... but the chain knows


def test_a_rewritten_newest_manifest_is_caught_by_its_versions(archive: Archive) -> None:
    three_days(archive)
    newest = archive.manifest_keys()[-1]
    archive.edit_manifest(newest, lambda d: d["totals"].update(bytes=0))
    assert kinds(archive.verify()) == {REWRITTEN}


def test_a_deleted_middle_manifest_breaks_the_chain(archive: Archive) -> None:
    three_days(archive)
    middle = archive.manifest_keys()[1]
    archive.delete(middle)
    check = archive.verify()
    assert {CHAIN, REWRITTEN, NO_MANIFEST} <= kinds(check)
    assert any(f.kind == CHAIN and f.subject == middle for f in check.findings)


def test_a_part_altered_before_any_manifest_is_refused(archive: Archive) -> None:
    key = archive.put_part("db-1", DAYS[0], "audit.log.0.x", 1, 0, lines(0, 20))
    archive.flip_byte(key, 7)
    with pytest.raises(ManifestError, match="metadata"):
        archive.write("db-1", DAYS[0])
    assert archive.manifest_keys() == []


def test_an_archived_part_is_reported_as_archived_not_as_changed(archive: Archive) -> None:
    keys = three_days(archive)
    archive.s3.copy_object(
        Bucket=archive.bucket,
        Key=keys[0],
        CopySource={"Bucket": archive.bucket, "Key": keys[0]},
        StorageClass="GLACIER",
    )  # what the lifecycle's archive transition does (same bytes, another storage class)
    check = archive.verify()
    assert [(f.kind, f.subject) for f in check.findings] == [(ARCHIVED, keys[0])]
    assert "restore" in check.findings[0].detail


def test_cli_writes_manifests_and_verify_exits_1_on_a_tampered_part(
    archive: Archive, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from labkit import cli

    for n, day in enumerate(DAYS):
        archive.put_part("db-1", day, f"audit.log.0.{day}", 1, 0, lines(n * 10, 10))
    for name, value in {
        "LABKIT_TARGET": "local",
        "LABKIT_ENDPOINT_URL": account.url,
        "LABKIT_BUCKET": archive.bucket,
        "LABKIT_LOG_PREFIX": PREFIX,
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    written = runner.invoke(cli.app, ["manifest"], terminal_width=200)
    assert written.exit_code == 0, written.output
    assert written.output.count("written") == 3
    assert "unchanged" in runner.invoke(cli.app, ["manifest", "--day", DAYS[1]], terminal_width=200).output
    verify = ["verify", "--manifests", "--json", "--out", str(tmp_path)]
    clean = runner.invoke(cli.app, verify)
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["parts_checked"] == 3
    archive.flip_byte(PartKey(PREFIX, "db-1-cluster", "db-1", DAYS[2], f"audit.log.0.{DAYS[2]}").key(1), 5)
    broken = runner.invoke(cli.app, ["verify", "--manifests", "--out", str(tmp_path)], terminal_width=200)
    assert broken.exit_code == 1
    assert "part changed" in broken.output and "1 finding(s)" in broken.output


TAMPERS = ("none", "flip", "delete part", "rewrite manifest", "delete manifest")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.lists(st.lists(st.integers(1, 30), min_size=1, max_size=3), min_size=2, max_size=4),
    tamper=st.sampled_from(TAMPERS),
    pick=st.integers(0, 10_000),
    late=st.booleans(),
)
def test_any_single_tampering_is_caught_and_an_untouched_archive_passes(
    account: EmulatedAccount, layout: list[list[int]], tamper: str, pick: int, late: bool
) -> None:
    """Days of files with parts of random line counts, maybe a late part on the first day (a revision of its
    manifest); then one tampering of any kind on any part or manifest (a deleted newest manifest leaves its
    day with no manifest at all - also caught)."""
    archive = Archive(account)
    keys, line, ends = [], 0, {}
    for d, files in enumerate(layout):
        day = f"2025-05-{d + 1:02d}"
        for f, count in enumerate(files):
            start = 0
            for number, size in enumerate((count, count // 2 + 1), start=1):
                data = lines(line, size)
                keys.append(archive.put_part("db-1", day, f"audit.log.{f}.{day}", number, start, data))
                start, line = start + len(data), line + size
            ends[(day, f)] = start
        archive.write("db-1", day)
    if late:
        day = "2025-05-01"
        keys.append(archive.put_part("db-1", day, f"audit.log.0.{day}", 3, ends[(day, 0)], lines(line, 2)))
        assert archive.write("db-1", day).sequence == len(layout) + 1
    manifests = archive.manifest_keys()
    if tamper == "flip":
        archive.flip_byte(keys[pick % len(keys)], pick)
    elif tamper == "delete part":
        archive.delete(keys[pick % len(keys)])
    elif tamper == "rewrite manifest":
        archive.edit_manifest(manifests[pick % len(manifests)], lambda doc: doc["totals"].update(parts=99))
    elif tamper == "delete manifest":
        archive.delete(manifests[pick % len(manifests)])
    check = archive.verify(today="2025-06-01")
    assert check.clean is (tamper == "none"), check.findings


def test_a_concurrent_writer_loses_instead_of_overwriting(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs that both saw the chain at sequence 1 pick sequence 2: S3's If-None-Match lets one win."""
    from labkit.backup import manifest

    archive.put_part("db-1", DAYS[0], "audit.log.0.a", 1, 0, lines(0, 5))
    archive.write("db-1", DAYS[0])
    stale = manifest.list_manifests(archive.s3, archive.bucket, PREFIX)
    archive.put_part("db-1", DAYS[1], "audit.log.0.b", 1, 0, lines(5, 5))
    archive.write("db-1", DAYS[1])  # the other run wins sequence 2
    archive.put_part("db-1", DAYS[2], "audit.log.0.c", 1, 0, lines(10, 5))
    monkeypatch.setattr(manifest, "list_manifests", lambda *_a: stale)
    with pytest.raises(ManifestConflictError, match="again"):
        archive.write("db-1", DAYS[2])
    monkeypatch.undo()
    assert archive.verify(today=DAYS[2]).findings == []


def test_the_downloaders_own_parts_are_manifested_and_the_reconciliation_ignores_manifests(
    account: EmulatedAccount,
) -> None:
    """The real pipeline (detector + downloader) writes the parts; a growing file's second part arrives after
    its day's manifest and gets a revision. The source reconciliation stays clean beside the manifests."""
    from tests.support.pipeline import BUCKET, Pipeline, append

    pipeline = Pipeline(account)
    pipeline.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 3_000)
    pipeline.detect("db-1")
    pipeline.copy_all("db-1")
    (day,) = {p.date for p in list_parts(pipeline.s3, BUCKET, PREFIX)}
    first = write_manifests(pipeline.s3, BUCKET, PREFIX, "db-1", day)
    append(active, 3_000, 2_000)
    pipeline.detect("db-1")
    pipeline.copy_all("db-1")
    second = write_manifests(pipeline.s3, BUCKET, PREFIX, "db-1", day)
    assert (first.sequence, first.parts, second.sequence, second.parts) == (1, 1, 2, 2)
    assert second.bytes == active.stat().st_size
    check = verify_manifests(pipeline.s3, BUCKET, PREFIX, today="2999-01-01")
    assert check.findings == [] and check.bytes_checked == active.stat().st_size
    report = pipeline.reconcile()
    assert report.clean, [f.problems for f in report.files]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(DAYS), st.booleans()), min_size=1, max_size=8))
def test_any_order_of_runs_and_late_parts_keeps_one_valid_chain(
    account: EmulatedAccount, steps: list[tuple[str, bool]]
) -> None:
    """Runs for any day in any order, each maybe after a new part landed on that day: a run writes a manifest
    exactly when its day changed since that day's last manifest, and the chain always verifies."""
    archive = Archive(account)
    ends: dict[str, int] = {}
    numbers: dict[str, int] = {}
    changed: set[str] = set()
    expected = 0
    for day, new_part in steps:
        if new_part or day not in ends:
            numbers[day] = numbers.get(day, 0) + 1
            data = lines(numbers[day] * 10, 3)
            archive.put_part("db-1", day, f"audit.log.0.{day}", numbers[day], ends.get(day, 0), data)
            ends[day] = ends.get(day, 0) + len(data)
            changed.add(day)
        outcome = archive.write("db-1", day)
        assert outcome.written is (day in changed)
        expected += day in changed
        changed.discard(day)
        assert outcome.sequence <= expected and outcome.bytes == ends[day]
    check = archive.verify()
    assert check.findings == [] and check.manifests == expected
