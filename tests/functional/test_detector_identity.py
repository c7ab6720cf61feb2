"""The detector never gives one file's bytes another file's identity, and never loses one silently.

Each test is a sequence a review found broken (issue 8: sequences 1, 2, 5, 6, 7), driven through the real
detector and downloader against the emulator over HTTP; what is asserted is what a user would notice: the
bytes under each identity in S3, the files reported LOST and how many bytes they lost.
"""

from __future__ import annotations

import os
import time
from typing import Any

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage, scan
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import Pipeline, append, copy_sealed, stored
from tests.support.rotation import rotate_files

SCHEME_TAG = "labkit:naming-scheme"


def tick() -> None:
    time.sleep(0.003)  # a later LastWritten (ms) for the next write; correctness never depends on it


def items(pipeline: Pipeline, instance: str = "db-1") -> list[dict[str, Any]]:
    return sorted(t.instance_items(pipeline.table, instance), key=lambda i: i["first_seen"])


def test_more_rotations_than_files_kept_never_give_a_file_another_files_bytes(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN A (.2), B (.1) copied and C active with 300 lines, two rotated files kept
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    for first in (0, 10_000):
        append(active, first, 1000)
        tick()
        rotate_files(directory, 2)
    append(active, 20_000, 300)
    pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    [c_item] = [i for i in items(pipeline) if i["log_file_name"] == "audit/server_audit.log"]
    c_seen = active.read_bytes()
    # WHEN three rotations happen before the next scan: C, B and A are deleted; D (.2), E (.1), F active
    append(active, 20_300, 700)
    for first in (None, 30_000, 40_000):
        if first is not None:
            append(active, first, 1000)
        tick()
        rotate_files(directory, 2)
    append(active, 50_000, 100)
    outcome = pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    # THEN C is LOST with the bytes it had when seen, and nothing was stored under its identity
    c_now = t.get_item(pipeline.table, "db-1", c_item["sk"])
    assert c_now is not None and c_now["state"] == t.LOST, c_now
    assert c_now["lost_bytes"] == len(c_seen) and stored(pipeline, c_now) == b""
    assert c_item["sk"] in outcome.lost
    # AND every file on the instance is tracked under its own identity, the sealed ones copied exactly
    on_disk = {p.name: p.read_bytes() for p in directory.iterdir()}
    live = {i["log_file_name"]: i for i in items(pipeline) if "vanished_at" not in i}
    assert sorted(live) == sorted(f"audit/{n}" for n in on_disk)
    for name, item in live.items():
        if item["sealed"]:
            assert stored(pipeline, item) == on_disk[name.removeprefix("audit/")], name


def test_a_clock_stepped_back_keeps_every_identity(pipeline: Pipeline, account: EmulatedAccount) -> None:
    # GIVEN A copied (.2), B just sealed (.1, not copied yet) and C active
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 500)
    pipeline.detect("db-1", scheme="rds-mysql")
    tick()
    rotate_files(directory, 5)
    append(active, 1000, 500)
    pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    tick()
    rotate_files(directory, 5)
    append(active, 2000, 200)
    pipeline.detect("db-1", scheme="rds-mysql")
    before = {i["sk"]: i["log_file_name"] for i in items(pipeline)}
    # WHEN the host's clock steps back 2 s: the active file's LastWritten goes backwards
    append(active, 2200, 10)
    st = active.stat()
    os.utime(active, ns=(st.st_atime_ns, st.st_mtime_ns - 2_000_000_000))
    outcome = pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    # THEN no file is new, none vanished, and each sealed file's bytes are in S3 exactly once
    assert (outcome.new, outcome.vanished, outcome.lost) == (0, 0, []), outcome
    assert {i["sk"]: i["log_file_name"] for i in items(pipeline)} == before
    for item in items(pipeline):
        if item["sealed"]:
            name = item["log_file_name"].removeprefix("audit/")
            assert stored(pipeline, item) == (directory / name).read_bytes()


def test_an_active_file_that_shrinks_does_not_drop_the_sealed_files(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 300)
    tick()
    rotate_files(directory, 5)
    append(active, 1000, 300)
    pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    before = {i["sk"] for i in items(pipeline)}
    # WHEN the active file is cut short (its first lines stay)
    with open(active, "r+b") as handle:
        handle.truncate(active.stat().st_size // 2)
    outcome = pipeline.detect("db-1", scheme="rds-mysql")
    # THEN every identity is kept: nothing new, nothing vanished, nothing to copy twice
    assert (outcome.new, outcome.vanished) == (0, 0), outcome
    assert {i["sk"] for i in items(pipeline)} == before
    [active_item] = [i for i in items(pipeline) if not i["sealed"]]
    assert active_item["size"] == active.stat().st_size


def test_a_stale_index_read_never_calls_a_copied_file_lost(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an index read taken before a copy committed every byte of the file
    directory = account.add_instance("db-1")
    f = directory / "server_audit.log"
    append(f, 0, 300)
    pipeline.detect("db-1")
    stale = t.live_items(pipeline.table, "db-1")
    pipeline.copy_all("db-1")
    # WHEN the file is removed upstream and a detector decides from the stale read
    f.unlink()
    outcome = detect(
        account.rds,
        StaleIndex(pipeline.table, stale),
        InstanceMessage("db-1", "c", "aurora-mysql", "aurora"),
        seal_after_s=3600,
        ttl_days=30,
    )
    # THEN the file is called vanished with none of its copied bytes counted lost (the stale read's
    # copied_bytes is not believed); it was never sealed, so its end is unknown: LOST, 0 as a lower bound
    [item] = items(pipeline)
    assert outcome.lost == [item["sk"]] and item["state"] == t.LOST and item["lost_bytes"] == 0
    assert item["lost_exact"] is False and "expires_at" in item


def test_two_overlapping_detectors_converge_on_one_item_per_file(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 100)
    message = InstanceMessage("db-1", "c", "aurora-mysql", "rds-mysql")
    # GIVEN detector B records the active file, then the file grows
    detect(account.rds, pipeline.table, message, seal_after_s=0, ttl_days=30)
    tick()
    append(active, 100, 5)
    # WHEN detector A, whose table read happened before B's write, lists and records it too
    detect(account.rds, StaleIndex(pipeline.table, []), message, seal_after_s=0, ttl_days=30)
    # THEN there is one item for the one file, and the next scan after a rotation loses nothing
    assert len(items(pipeline)) == 1
    tick()
    append(active, 200, 50)
    rotate_files(directory, 5)
    append(active, 300, 10)
    outcome = pipeline.detect("db-1", scheme="rds-mysql")
    copy_sealed(pipeline)
    assert outcome.lost == [] and outcome.vanished == 0, outcome
    [sealed] = [i for i in items(pipeline) if i["sealed"]]
    assert stored(pipeline, sealed) == (directory / "server_audit.log.1").read_bytes()


def test_a_deleted_instance_is_still_scanned_and_its_uncopied_bytes_are_lost(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    append(directory / "server_audit.log", 0, 300)
    pipeline.detect("db-1", scheme="rds-mysql")  # the active file: copied once sealed, never was
    # WHEN the instance is deleted before the next scan
    account.rds.delete_db_instance(DBInstanceIdentifier="db-1", SkipFinalSnapshot=True)
    sent = scan(
        account.rds, pipeline.sqs, pipeline.queue, {"aurora-mysql"}, "skip", SCHEME_TAG, table=pipeline.table
    )
    # THEN the scanner still queues it (it has live tracked files) and the detector calls them LOST
    assert sent.sent == ["db-1"]
    [message] = pipeline.sqs.receive_message(QueueUrl=pipeline.queue)["Messages"]
    from labkit.backup.messages import parse_message

    outcome = detect(account.rds, pipeline.table, parse_message(message["Body"]), seal_after_s=0, ttl_days=30)
    assert outcome.instance_gone and len(outcome.lost) == 1
    [item] = items(pipeline)
    assert item["state"] == t.LOST and item["lost_bytes"] == item["size"] > 0
    # AND once nothing is live, the scanner stops queueing it
    again = scan(
        account.rds, pipeline.sqs, pipeline.queue, {"aurora-mysql"}, "skip", SCHEME_TAG, table=pipeline.table
    )
    assert again.sent == []


class StaleIndex:
    """The table as a detector saw it through an index read that lags the writes (eventual consistency)."""

    def __init__(self, table: Any, snapshot: list[dict[str, Any]]) -> None:
        self.table, self.snapshot = table, snapshot

    def query(self, **kwargs: Any) -> Any:
        if kwargs.get("IndexName"):
            return {"Items": [dict(i) for i in self.snapshot]}
        return self.table.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)


def test_a_rotation_while_the_scan_reads_heads_makes_it_scan_again(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: Any
) -> None:
    from labkit.backup import detector as module

    # GIVEN E (.1) and F (active) tracked
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 100)
    tick()
    rotate_files(directory, 5)
    append(active, 1000, 100)
    pipeline.detect("db-1", scheme="rds-mysql")
    tracked = {i["sk"]: i["log_file_name"] for i in items(pipeline)}
    append(active, 1100, 10)
    real, rotated = module.read_head, []

    def rotate_during_first_read(rds: Any, instance: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if not rotated:  # MariaDB rotates between the listing and the head read: names mean other files
            rotated.append(name)
            tick()
            rotate_files(directory, 5)
            append(active, 2000, 100)
        return real(rds, instance, name, *args, **kwargs)

    monkeypatch.setattr(module, "read_head", rotate_during_first_read)
    # WHEN a scan reads heads while the names move
    outcome = pipeline.detect("db-1", scheme="rds-mysql")
    # THEN it notices, scans again, and every item keeps its own file (E at .2, F at .1, G new)
    assert rotated and outcome.lost == [] and outcome.vanished == 0 and outcome.new == 1, outcome
    now = {i["sk"]: i["log_file_name"] for i in items(pipeline)}
    assert {sk: now[sk] for sk in tracked} == {
        sk: name[:-1] + "2" if name.endswith(".1") else name + ".1" for sk, name in tracked.items()
    }
    copy_sealed(pipeline)
    for item in items(pipeline):
        if item["sealed"]:
            assert (
                stored(pipeline, item)
                == (directory / item["log_file_name"].removeprefix("audit/")).read_bytes()
            )


def test_a_stopped_instance_with_tracked_files_is_still_queued(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-2", scheme="rds-mysql", engine="mysql")
    account.add_instance("db-3", scheme="rds-mysql", engine="mysql")  # stopped, nothing tracked
    append(directory / "server_audit.log", 0, 30)
    pipeline.detect("db-2", scheme="rds-mysql")
    for instance in ("db-2", "db-3"):
        account.rds.stop_db_instance(DBInstanceIdentifier=instance)
    outcome = scan(
        account.rds, pipeline.sqs, pipeline.queue, {"mysql"}, "skip", SCHEME_TAG, table=pipeline.table
    )
    assert outcome.sent == ["db-2"] and set(outcome.skipped) == {"db-2", "db-3"}, outcome


class RefusesPortions:
    """The RDS client, except that DownloadDBLogFilePortion answers as AWS does for some files with bytes
    that are not UTF-8 ("This file contains binary data"): the emulator never refuses, so this is faked."""

    def __init__(self, rds: Any) -> None:
        self._rds = rds

    def download_db_log_file_portion(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError(
            {
                "Error": {
                    "Code": "InvalidParameterValue",
                    "Message": "This file contains binary data and should be downloaded instead of viewed.",
                }
            },
            "DownloadDBLogFilePortion",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rds, name)


def test_a_file_the_portion_api_refuses_is_identified_by_its_complete_download(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    with open(active, "ab") as handle:
        handle.write(b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9\xff',0\n")
    append(active, 10, 50)
    message = InstanceMessage("db-1", "c", "aurora-mysql", "rds-mysql")
    refusing = RefusesPortions(account.rds)
    credentials = account.session.get_credentials()
    # WHEN every scan must read heads through the complete download
    first = detect(refusing, pipeline.table, message, seal_after_s=0, ttl_days=30, credentials=credentials)
    tick()
    rotate_files(directory, 5)
    append(active, 100, 10)
    second = detect(refusing, pipeline.table, message, seal_after_s=0, ttl_days=30, credentials=credentials)
    # THEN the file keeps its identity across the rename, and the portion API (when it answers) agrees
    assert (first.new, second.new, second.vanished) == (1, 1, 0), (first, second)
    [sealed] = [i for i in items(pipeline) if i["sealed"]]
    from labkit.backup.identity import read_head

    assert sealed["head_sha"] == read_head(account.rds, "db-1", "audit/server_audit.log.1")


def test_two_sealed_files_with_the_same_size_and_last_written_are_each_copied_as_themselves(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN twins: two rotated files of equal size whose LastWritten is the same millisecond
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 10_000, 100)
    rotate_files(directory, 5)
    append(active, 20_000, 100)
    rotate_files(directory, 5)
    append(active, 30_000, 10)
    for name in ("server_audit.log.1", "server_audit.log.2"):
        os.utime(directory / name, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert (directory / "server_audit.log.1").stat().st_size == (
        directory / "server_audit.log.2"
    ).stat().st_size
    pipeline.detect("db-1", scheme="rds-mysql")
    # WHEN both are copied
    copy_sealed(pipeline)
    # THEN each identity holds its own file's bytes
    sealed = [i for i in items(pipeline) if i["sealed"]]
    assert len(sealed) == 2
    for item in sealed:
        assert item["state"] == t.BACKED_UP, item
        assert (
            stored(pipeline, item) == (directory / item["log_file_name"].removeprefix("audit/")).read_bytes()
        )


class HidesFile:
    """The RDS client, except that one DescribeDBLogFiles answer leaves a file out (a listing taken while it
    was briefly unreadable): the emulator lists what is on disk, so this omission is faked."""

    def __init__(self, rds: Any, hidden: str) -> None:
        self._rds, self.hidden = rds, hidden

    def get_paginator(self, name: str) -> Any:
        real = self._rds.get_paginator(name)
        hidden = self.hidden

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                for page in real.paginate(**kwargs):
                    files = [f for f in page.get("DescribeDBLogFiles", []) if f["LogFileName"] != hidden]
                    yield {**page, "DescribeDBLogFiles": files}

        return Pages() if name == "describe_db_log_files" else real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rds, name)


def test_a_file_called_vanished_by_a_listing_that_missed_it_is_tracked_again(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a sealed file, tracked, then one listing that leaves it out: it is called vanished (LOST)
    directory = account.add_instance("db-1", scheme="rds-mysql")
    active = directory / "server_audit.log"
    append(active, 0, 100)
    rotate_files(directory, 5)
    append(active, 1000, 10)
    pipeline.detect("db-1", scheme="rds-mysql")
    message = InstanceMessage("db-1", "c", "aurora-mysql", "rds-mysql")
    blind = detect(
        HidesFile(account.rds, "audit/server_audit.log.1"),
        pipeline.table,
        message,
        seal_after_s=0,
        ttl_days=30,
    )
    assert len(blind.lost) == 1
    # WHEN the next scan lists it again
    again = pipeline.detect("db-1", scheme="rds-mysql")
    # THEN the same item is live again (no second identity) and its bytes are copied exactly once
    assert again.revived == blind.lost and again.new == 0, again
    copy_sealed(pipeline)
    [sealed] = [i for i in items(pipeline) if i["sealed"]]
    assert sealed["state"] == t.BACKED_UP and "vanished_at" not in sealed and "lost_bytes" not in sealed
    assert stored(pipeline, sealed) == (directory / "server_audit.log.1").read_bytes()
