"""Scanner, detector and downloader cores against the emulator over HTTP, with synthetic audit files whose
every byte is known; each test ends with the reconciliation a user would run."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from labkit.backup import table as t
from labkit.backup.downloader import Downloader
from labkit.backup.errors import BadInputError
from labkit.backup.messages import parse_message
from labkit.backup.scanner import scan
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.pipeline import BUCKET, PREFIX, Pipeline, append


def test_scanner_sends_one_message_per_available_instance_and_honours_opt_out(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    for n in range(12):  # more than one send_message_batch call
        account.add_instance(f"db-{n}")
    account.rds.add_tags_to_resource(
        ResourceName=account.rds.describe_db_instances(DBInstanceIdentifier="db-3")["DBInstances"][0][
            "DBInstanceArn"
        ],
        Tags=[{"Key": "audit-backup:skip", "Value": "true"}],
    )
    outcome = scan(
        account.rds,
        pipeline.sqs,
        pipeline.queue,
        {"aurora-mysql"},
        "audit-backup:skip",
        "labkit:naming-scheme",
    )
    assert sorted(outcome.sent) == sorted(f"db-{n}" for n in range(12) if n != 3)
    assert "db-3" in outcome.skipped and not outcome.failed
    bodies = []
    while True:
        got = pipeline.sqs.receive_message(QueueUrl=pipeline.queue, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not got:
            break
        bodies += [parse_message(m["Body"]) for m in got]
        pipeline.sqs.delete_message_batch(
            QueueUrl=pipeline.queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    assert sorted(b.instance_id for b in bodies) == sorted(outcome.sent)


@pytest.mark.parametrize(
    "body", ["not json", "{}", '{"instance_id": "../etc"}', '{"instance_id": "db-1", "scheme": "x"}']
)
def test_malformed_messages_are_bad_input(body: str) -> None:
    with pytest.raises(BadInputError):
        parse_message(body)


def test_a_growing_file_is_copied_in_parts_without_refetching(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    append(active, 0, 30_000)
    pipeline.detect("db-1")
    first = pipeline.copy_all("db-1")
    append(active, 30_000, 20_000)
    assert pipeline.detect("db-1").changed == 1
    second = pipeline.copy_all("db-1")
    # THEN the second copy fetched only the new bytes, as part 2
    copied = [o for o in first + second if o.action == "copied"]
    assert [o.key.rsplit(".part-", 1)[1] for o in copied] == ["00001.gz", "00002.gz"]
    assert sum(o.rds_bytes_fetched for o in copied) == active.stat().st_size
    report = pipeline.reconcile()
    assert report.clean, [f.problems for f in report.files]
    assert report.files[0].s3_bytes == active.stat().st_size and report.files[0].source_checked


def test_an_idle_scan_writes_nothing(pipeline: Pipeline, account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 100)
    assert pipeline.detect("db-1").writes == 1
    assert pipeline.detect("db-1").writes == 0


def test_a_sealed_file_is_fetched_in_one_complete_download(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 40_000)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    os.utime(directory / "server_audit.log.1", (1_700_000_000, 1_700_000_000))
    append(directory / "server_audit.log", 40_000, 10)
    outcome = pipeline.detect("db-1")
    assert outcome.new == 2
    copies = [o for o in pipeline.copy_all("db-1") if o.action == "copied"]
    sealed = next(o for o in copies if o.bytes_copied > 1_000_000)
    assert sealed.rds_calls == 1
    states = {i["log_file_name"]: i["state"] for i in t.instance_items(pipeline.table, "db-1")}
    assert sorted(states.values()) == [t.BACKED_UP, t.PARTIAL]
    assert pipeline.reconcile().clean


def test_a_statement_over_1mb_and_non_utf8_bytes_are_copied_exactly(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    append(active, 0, 10)
    with open(active, "ab") as handle:
        handle.write(audit_line(10, "INSERT INTO t VALUES ('" + "y" * 1_300_000 + "')"))
        handle.write(b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9\xff\x00',0\n")
    append(active, 11, 10)
    pipeline.detect("db-1")
    pipeline.copy_all("db-1")
    report = pipeline.reconcile()
    assert report.clean, report.files[0].problems
    assert report.files[0].s3_bytes == active.stat().st_size


def test_a_file_evicted_before_it_was_copied_is_lost_within_one_scan(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 100)
    pipeline.detect("db-1")
    (directory / "server_audit.log").unlink()
    outcome = pipeline.detect("db-1")
    assert len(outcome.lost) == 1
    [item] = t.instance_items(pipeline.table, "db-1")
    assert item["state"] == t.LOST and item["lost_bytes"] == item["size"] > 0
    assert t.live_items(pipeline.table, "db-1") == []  # later scans no longer read it
    report = pipeline.reconcile()
    assert [f.file_id for f in report.lost] == [item["sk"]]


def test_a_crash_after_the_s3_write_then_redelivery_gives_no_duplicate(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 20_000)
    pipeline.detect("db-1")
    [item] = t.instance_items(pipeline.table, "db-1")
    crashing = pipeline.downloader()

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError("killed between the S3 write and the table commit")

    crashing._commit = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        crashing.copy(item["pk"], item["sk"], "seq-1")
    append(directory / "server_audit.log", 20_000, 5_000)
    pipeline.detect("db-1")
    assert pipeline.downloader().copy(item["pk"], item["sk"], "seq-1").action == "copied"  # redelivery
    report = pipeline.reconcile()
    assert report.clean and report.files[0].parts == 1, report.files[0].problems


def test_throttling_is_absorbed_by_retries(pipeline: Pipeline, account: EmulatedAccount) -> None:
    from botocore.config import Config

    from tests.support.emulated import set_faults

    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 40_000)
    pipeline.detect("db-1")
    set_faults(account.url, throttle_rate=0.05)
    account.rds = account.client("rds", config=Config(retries={"mode": "standard", "max_attempts": 10}))
    pipeline.copy_all("db-1")
    set_faults(account.url, throttle_rate=0.0)
    assert pipeline.reconcile().clean


def test_rds_mysql_renamed_files_keep_their_identity(pipeline: Pipeline, account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 1000)
    pipeline.detect("db-1", scheme="rds-mysql")
    for rotation in range(3):
        for n in range(rotation + 1, 0, -1):
            if (directory / f"server_audit.log.{n}").exists():
                os.rename(directory / f"server_audit.log.{n}", directory / f"server_audit.log.{n + 1}")
        os.rename(active, directory / "server_audit.log.1")
        append(active, 10_000 * (rotation + 1), 500 + rotation)
        outcome = pipeline.detect("db-1", scheme="rds-mysql")
        assert outcome.new == 1, outcome
        pipeline.copy_all("db-1")
    items = t.instance_items(pipeline.table, "db-1")
    assert len(items) == 4
    assert sorted(i["log_file_name"] for i in items) == [
        "audit/server_audit.log",
        "audit/server_audit.log.1",
        "audit/server_audit.log.2",
        "audit/server_audit.log.3",
    ]
    assert sorted(i["state"] for i in items) == [t.BACKED_UP] * 3 + [t.DETECTED]
    assert pipeline.reconcile().clean


def test_unknown_file_name_cannot_escape_the_prefix(pipeline: Pipeline) -> None:
    from labkit.backup.layout import PartKey

    key = PartKey(PREFIX, "c-1", "db-1", "2026-11-26", "../../etc/passwd").key(1)
    assert key.startswith(f"{PREFIX}/cluster=c-1/instance=db-1/date=2026-11-26/")
    assert "/../" not in key and key.count("/") == 4
    with pytest.raises(BadInputError):
        PartKey(PREFIX, "c-1", "../db", "2026-11-26", "x").key(1)


def test_instance_deleted_mid_run_marks_uncopied_files_lost(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 100)
    pipeline.detect("db-1")
    account.rds.delete_db_instance(DBInstanceIdentifier="db-1", SkipFinalSnapshot=True)
    [item] = t.instance_items(pipeline.table, "db-1")
    assert pipeline.downloader().copy(item["pk"], item["sk"], "s1").action == "lost"
    assert pipeline.detect("db-1").instance_gone
    assert [f.state for f in pipeline.reconcile().files] == [t.LOST]


def test_complete_download_refused_falls_back_to_paging(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sealed file and a DownloadCompleteDBLogFile that is refused (e.g. an IAM policy without it)
    from botocore.exceptions import ClientError

    from labkit.backup import downloader as module

    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 20_000)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    os.utime(directory / "server_audit.log.1", (1_700_000_000, 1_700_000_000))
    append(directory / "server_audit.log", 20_000, 10)
    pipeline.detect("db-1")

    def refused(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DownloadCompleteDBLogFile")

    monkeypatch.setattr(module, "download_complete_log_file", refused)
    # WHEN copied THEN it is paged instead, and the backup is exact
    copies = [o for o in pipeline.copy_all("db-1") if o.action == "copied"]
    assert max(o.rds_calls for o in copies) > 1
    assert pipeline.reconcile().clean


class Crashing:
    """Wraps a client: the n-th call through any wrapped client raises, as if the function died there."""

    def __init__(self, inner: Any, budget: list[int]) -> None:
        self._inner, self._budget = inner, budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name in ("meta", "exceptions", "get_paginator"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._budget[0] -= 1
            if self._budget[0] == 0:
                raise RuntimeError(f"killed at {name}")
            return attr(*args, **kwargs)

        return call


def test_a_downloader_killed_at_every_point_then_redelivered_copies_each_byte_once(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a growing file; for every k, a copy that dies at its k-th AWS call, then a redelivery
    directory = account.add_instance("db-1")
    active = directory / "server_audit.log"
    line = 0
    for k in range(1, 12):
        append(active, line, 3_000)
        line += 3_000
        pipeline.detect("db-1")
        [item] = t.instance_items(pipeline.table, "db-1")
        budget = [k]
        dying = Downloader(
            rds=Crashing(account.rds, budget),
            s3=Crashing(pipeline.s3, budget),
            table=Crashing(pipeline.table, budget),
            credentials=account.session.get_credentials(),
            bucket=BUCKET,
            prefix=PREFIX,
            lease_ms=60_000,
        )
        sequence = f"seq-{k}"
        with contextlib.suppress(RuntimeError):
            dying.copy(item["pk"], item["sk"], sequence)
        # WHEN the same record is redelivered
        pipeline.downloader().copy(item["pk"], item["sk"], sequence)
    # THEN S3 holds the file exactly: no byte missing, none twice
    report = pipeline.reconcile()
    assert report.clean, report.files[0].problems
    assert report.files[0].s3_bytes == active.stat().st_size


def test_a_copy_that_keeps_failing_shows_as_failed_until_a_copy_succeeds(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 1_000)
    pipeline.detect("db-1")
    [item] = t.instance_items(pipeline.table, "db-1")
    failed_now: list[str] = []
    broken = pipeline.downloader(on_failed=lambda i: failed_now.append(i["sk"]))
    broken.bucket = "no-such-bucket"  # every S3 write fails
    for attempt in range(4):
        with pytest.raises(ClientError):
            broken.copy(item["pk"], item["sk"], f"seq-{attempt}")
    assert failed_now == [item["sk"]]  # the FilesFailed metric counts it once, when it turns FAILED
    [failed] = t.instance_items(pipeline.table, "db-1")
    assert failed["state"] == t.FAILED and failed["failures"] == 4 and "NoSuchBucket" in failed["last_error"]
    report = pipeline.reconcile()
    assert not report.clean and "FAILED" in report.files[0].problems[0]
    # WHEN the cause is fixed and the record is redriven THEN the file is copied and the failure cleared
    assert pipeline.downloader().copy(item["pk"], item["sk"], "redrive").action == "copied"
    [fixed] = t.instance_items(pipeline.table, "db-1")
    assert fixed["state"] == t.PARTIAL and fixed["failures"] == 0 and "last_error" not in fixed
    assert pipeline.reconcile().clean


def test_rotation_during_a_copy_is_detected_and_the_retry_copies_the_right_file(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an rds-mysql instance with a sealed server_audit.log.1
    from labkit.backup import downloader as module

    directory = account.add_instance("db-1", scheme="rds-mysql")
    append(directory / "server_audit.log", 0, 30_000)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    append(directory / "server_audit.log", 30_000, 100)
    pipeline.detect("db-1", scheme="rds-mysql")
    sealed = next(i for i in t.instance_items(pipeline.table, "db-1") if i["sealed"])
    real = module.download_complete_log_file

    def rotating(*args: Any, **kwargs: Any) -> Any:
        for n, chunk in enumerate(real(*args, **kwargs)):
            if n == 0:  # MariaDB rotates while the copy streams: .1 -> .2, active -> .1
                os.rename(directory / "server_audit.log.1", directory / "server_audit.log.2")
                os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
                append(directory / "server_audit.log", 40_000, 10)
            yield chunk

    monkeypatch.setattr(module, "download_complete_log_file", rotating)
    # WHEN copied THEN the copy notices the rename and discards its part
    with pytest.raises(module.SourceChangedError):
        pipeline.downloader().copy(sealed["pk"], sealed["sk"], "seq-1")
    monkeypatch.setattr(module, "download_complete_log_file", real)
    # AND the redelivery, after the next scan, copies the same file under its new name, exactly
    pipeline.detect("db-1", scheme="rds-mysql")
    assert pipeline.downloader().copy(sealed["pk"], sealed["sk"], "seq-1").action == "copied"
    [copied] = [i for i in t.instance_items(pipeline.table, "db-1") if i["sk"] == sealed["sk"]]
    assert copied["log_file_name"] == "audit/server_audit.log.2" and copied["state"] == t.BACKED_UP
    report = pipeline.reconcile()
    assert all(f.ok for f in report.files if f.file_id == sealed["sk"]), [f.problems for f in report.files]


def test_a_part_larger_than_one_s3_part_streams_through_a_multipart_upload(pipeline: Pipeline) -> None:
    import gzip
    import hashlib

    from labkit.backup.s3parts import GzipPartWriter

    data = os.urandom(12 * 1024 * 1024)  # incompressible: three 5 MB multipart parts
    writer = GzipPartWriter(pipeline.s3, BUCKET, "audit-logs/x/part-00001.gz", 100, part_size=5 * 1024 * 1024)
    for offset in range(0, len(data), 1024 * 1024):
        writer.write(data[offset : offset + 1024 * 1024])
    part = writer.close({"instance": "db-1"})
    obj = pipeline.s3.get_object(Bucket=BUCKET, Key=part.key)
    assert gzip.decompress(obj["Body"].read()) == data
    assert obj["Metadata"]["source-sha256"] == hashlib.sha256(data).hexdigest()
    assert (obj["Metadata"]["source-start"], obj["Metadata"]["source-end"]) == ("100", str(100 + len(data)))
    assert pipeline.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_file_rotated_in_the_same_millisecond_as_its_successor_is_still_sealed(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 100)
    pipeline.detect("db-1")  # named first: audit.log.0.<minute>.0
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    append(directory / "server_audit.log", 100, 10)
    for name in ("server_audit.log", "server_audit.log.1"):
        os.utime(directory / name, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    pipeline.detect("db-1")
    sealed = {
        i["log_file_name"].rsplit(".", 1)[1]: i["sealed"] for i in t.instance_items(pipeline.table, "db-1")
    }
    assert sealed == {"0": True, "1": False}
