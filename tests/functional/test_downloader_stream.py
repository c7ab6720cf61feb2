"""The real downloader driven by the local runtime's stream poller (filter criteria, retries, bisect,
on-failure) against the emulator: the stream goes quiet (issue 8, sequence 4).

The runtime is stepped by hand (``poll_stream``), so nothing here depends on timing."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from labkit.backup import downloader as module
from labkit.backup import table as t
from labkit.backup.downloader import Downloader
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import append
from tests.support.stream_lab import StreamLab, stream_lab

PARTIAL = b"20261126 15:29:22,vm,u,h,1,3,QUERY,db,'SELECT PARTIAL \xe2\x82"  # a character half written
LATIN1 = b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9',0\n"


@pytest.fixture
def lab(account: EmulatedAccount, tmp_path: Path) -> StreamLab:
    return stream_lab(account, tmp_path, stream_batch_size=10, stream_max_retries=3)


def always_failing(monkeypatch: pytest.MonkeyPatch, bad: set[str]) -> None:
    """AWS answers "This file contains binary data" for these files, every time."""
    real = module.iter_portions

    def portions(rds: Any, instance_id: str, name: str, marker: str = "0") -> Any:
        if name in bad:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": "This file contains binary data"}},
                "DownloadDBLogFilePortion",
            )
        return real(rds, instance_id, name, marker)

    monkeypatch.setattr(module, "iter_portions", portions)


def test_a_file_that_keeps_failing_stays_failed_and_the_stream_goes_quiet(
    lab: StreamLab, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file every copy of which fails
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 200)
    lab.detect("db-1")
    [bad] = lab.items("db-1")
    always_failing(monkeypatch, {bad["log_file_name"]})
    limit = lab.config.stream_max_retries + 1
    # WHEN the runtime polls until the stream is quiet
    lab.settle()
    # THEN it was invoked at most max_retries + 1 times, the file is FAILED, the record went on-failure
    assert lab.invocations[bad["sk"]] <= limit
    [item] = lab.items("db-1")
    assert item["state"] == t.FAILED and item["failures"] == limit
    assert lab.runtime.stats()["stream"]["on_failure_sent"] == 1
    # ... and no further record appears: more passes read nothing, invoke nothing
    records = lab.stream_records()
    for _ in range(20):
        assert not lab.runtime.poll_stream()
    assert lab.stream_records() == records and lab.invocations[bad["sk"]] <= limit
    # WHEN the detector records new bytes THEN the file is tried again, as often, and goes quiet again
    append(active, 200, 10)
    assert lab.detect("db-1").changed == 1
    lab.settle()
    assert lab.invocations[bad["sk"]] <= 2 * limit
    [item] = lab.items("db-1")
    assert item["state"] == t.FAILED
    records = lab.stream_records()
    for _ in range(20):
        assert not lab.runtime.poll_stream()
    assert lab.stream_records() == records


def test_a_failing_file_batched_with_others_is_attempted_at_most_max_retries_plus_one_times(
    lab: StreamLab, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN eight files in one batch, one of which always fails (bisect splits the batch around it)
    directory = account.add_instance("db-1")
    for n in range(7, 0, -1):
        append(directory / "server_audit.log", 100 * n, 50)
        os.rename(directory / "server_audit.log", directory / f"server_audit.log.{n}")
    append(directory / "server_audit.log", 0, 50)
    lab.detect("db-1")
    items = lab.items("db-1")
    bad = items[3]
    always_failing(monkeypatch, {bad["log_file_name"]})
    calls: Counter[str] = Counter()
    real = module.Downloader._copy_leased

    def counted(self: Downloader, item: dict[str, Any], lease: Any) -> Any:
        calls[item["sk"]] += 1
        return real(self, item, lease)

    monkeypatch.setattr(module.Downloader, "_copy_leased", counted)
    # WHEN the runtime polls until quiet
    lab.settle()
    # THEN the failing file was attempted at most max_retries + 1 times and is FAILED; the others copied once
    assert calls[bad["sk"]] == lab.config.stream_max_retries + 1
    assert all(calls[i["sk"]] == 1 for i in items if i["sk"] != bad["sk"])
    states = Counter(i["state"] for i in lab.items("db-1"))
    assert states == {t.FAILED: 1, t.PARTIAL: 7}
    for _ in range(10):
        assert not lab.runtime.poll_stream()


def test_nothing_new_after_a_partial_line_writes_nothing_and_the_stream_goes_quiet(
    lab: StreamLab, account: EmulatedAccount
) -> None:
    # GIVEN a file ending in a line still being written, cut inside a character (the page shows U+FFFD for
    # one or two bytes: its end is uncertain, so copied_bytes stays below size until the line is finished)
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 100)
    with open(active, "ab") as handle:
        handle.write(LATIN1 + PARTIAL)
    lab.detect("db-1")
    # WHEN the runtime polls until quiet
    passes = lab.settle()
    # THEN the complete lines are copied, then nothing more happens: no record, no invocation
    assert passes <= 3
    [item] = lab.items("db-1")
    assert 0 < item["copied_bytes"] < item["size"]
    records, invoked = lab.stream_records(), sum(lab.invocations.values())
    for _ in range(20):
        assert not lab.runtime.poll_stream()
    assert lab.stream_records() == records and sum(lab.invocations.values()) == invoked
    # ... and a redelivery of the record finds nothing new and writes nothing
    assert lab.downloader().copy(item["pk"], item["sk"], "redelivered").action == "nothing-new"
    assert lab.stream_records() == records


def test_records_per_copied_file_and_none_when_idle(lab: StreamLab, account: EmulatedAccount) -> None:
    # GIVEN three rotated (sealed) files and an active one
    directory = account.add_instance("db-1")
    for n in range(3, 0, -1):
        append(directory / "server_audit.log", 1000 * n, 300)
        os.rename(directory / "server_audit.log", directory / f"server_audit.log.{n}")
        os.utime(directory / f"server_audit.log.{n}", (1_700_000_000 + n, 1_700_000_000 + n))
    append(directory / "server_audit.log", 0, 300)
    lab.detect("db-1", seal_after_s=0.0)
    # WHEN the stream is processed until quiet
    lab.settle()
    # THEN every file is copied, with at most two records delivered per copied file
    items = lab.items("db-1")
    copied = [i for i in items if i["copied_bytes"] == i["size"] > 0]
    assert len(copied) == 4
    delivered = lab.runtime.stats()["downloader"]["items"]
    assert delivered / len(copied) <= 2
    # ... and idle scans and polls add no record to the stream and invoke nothing
    records = lab.stream_records()
    for _ in range(10):
        assert lab.detect("db-1", seal_after_s=0.0).writes == 0
        assert not lab.runtime.poll_stream()
    assert lab.stream_records() == records
    assert lab.runtime.stats()["downloader"]["items"] == delivered
