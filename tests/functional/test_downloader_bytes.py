"""The downloader's bytes against the emulator over HTTP: pages rebuilt by byte range (issue 8, sequence 3),
time limits, copies spread over invocations and part numbers (sequence 9). Every test ends comparing the bytes
in S3 with the bytes of the source file."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.backup.downloader import Downloader
from labkit.backup.errors import SourceChangedError
from labkit.backup.identity import head_sha
from labkit.backup.layout import part_number
from labkit.backup.streamfilter import CONTINUE_WRITER, DOWNLOADER_WRITER
from tests.support.emulated import EmulatedAccount
from tests.support.pages import PIECES, CappedPages
from tests.support.pipeline import BUCKET, PREFIX, Pipeline, append, copy_until_done, only_item, s3_bytes

PARTIAL = b"20261126 15:29:22,vm,u,h,1,3,QUERY,db,'SELECT 'PARTIAL"
LATIN1 = b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9',0\n"


# -- sequence 3: a page rebuilt from the complete download ---------------------------------------------------
def test_a_rebuilt_page_ending_in_a_partial_line_skips_no_byte(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an active file with a non-UTF-8 byte (U+FFFD in the page) and a line MariaDB is still writing
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 100)
    with open(active, "ab") as handle:
        handle.write(LATIN1 + PARTIAL)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    # WHEN the line is finished, the file grows, and it is copied again
    with open(active, "ab") as handle:
        handle.write(b" LINE',0\n")
    append(active, 200, 100)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    # THEN S3 holds the file exactly, and the table says every byte is copied
    item = only_item(pipeline)
    assert s3_bytes(pipeline, "db-1")[item["sk"]] == active.read_bytes()
    assert item["copied_bytes"] == item["size"] == active.stat().st_size


def test_a_rebuilt_page_without_newline_copies_no_byte_twice(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a copied file, then a page that is only a partial line with a non-UTF-8 byte
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 100)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    with open(active, "ab") as handle:
        handle.write(b"20261126 15:29:22,vm,u,h,1,3,QUERY,db,'SELECT \xe9 PART")
    real = Downloader._complete

    def growing(self: Downloader, instance_id: str, name: str) -> Iterator[bytes]:
        with open(active, "ab") as handle:  # MariaDB writes on between the page and the complete download
            handle.write(b"IAL',0\n")
        append(active, 500, 50)
        return real(self, instance_id, name)

    pipeline.detect("db-1")
    listed = only_item(pipeline)["size"]
    monkeypatch.setattr(Downloader, "_complete", growing)
    copy_until_done(pipeline, "db-1")
    monkeypatch.setattr(Downloader, "_complete", real)
    # THEN the commit stayed within what the detector listed
    item = only_item(pipeline)
    assert item["size"] == listed and item["copied_bytes"] <= listed
    # AND once the file is listed again and copied, S3 holds it exactly once
    append(active, 900, 10)
    pipeline.detect("db-1")
    copy_until_done(pipeline, "db-1")
    assert s3_bytes(pipeline, "db-1")[item["sk"]] == active.read_bytes()


line = st.lists(st.sampled_from(PIECES), max_size=12).map(lambda p: b"".join(p) + b"\n")
_instances = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(line, min_size=1, max_size=25),
    long_line=st.booleans(),
    partial=st.lists(st.sampled_from(PIECES), max_size=6).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=10**7), max_size=3),
    caps=st.lists(st.integers(min_value=40, max_value=300), min_size=1, max_size=6),
    growth=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=5),
)
def test_page_rebuild_property_s3_bytes_are_the_source_bytes_once(
    pipeline: Pipeline,
    account: EmulatedAccount,
    lines: list[bytes],
    long_line: bool,
    partial: bytes,
    cuts: list[int],
    caps: list[int],
    growth: list[int],
) -> None:
    # GIVEN a file planned byte for byte (non-UTF-8, XML-illegal bytes, maybe a >1 MB line, maybe a partial
    # last line), written in stages that end anywhere, and paged with random page sizes
    if long_line:
        lines.insert(len(lines) // 2, b"INSERT '" + b"y" * 1_050_000 + b"\xe9',0\n")
    content = b"".join(lines) + partial
    instance = f"db-p{next(_instances)}"
    directory = account.add_instance(instance)
    path = directory / "server_audit.log"
    path.touch()
    stops = sorted({min(c, len(content)) for c in cuts} | {len(content)})
    written = [0]

    def write_to(end: int) -> None:
        if end > written[0]:
            with open(path, "ab") as handle:
                handle.write(content[written[0] : end])
            written[0] = end

    grow = itertools.cycle(growth)

    class Growing(Downloader):  # MariaDB writes on between a page and the complete download
        def _complete(self, instance_id: str, name: str) -> Iterator[bytes]:
            write_to(min(len(content), written[0] + next(grow)))
            return super()._complete(instance_id, name)

    capped = CappedPages(account.rds, itertools.cycle(caps))
    downloader = Growing(
        rds=capped,
        s3=pipeline.s3,
        table=pipeline.table,
        credentials=account.session.get_credentials(),
        bucket=BUCKET,
        prefix=PREFIX,
        lease_ms=60_000,
    )
    for stop in stops:
        write_to(stop)
        pipeline.detect(instance)
        capped.paths = {i["log_file_name"]: path for i in t.instance_items(pipeline.table, instance)}
        copy_until_done(pipeline, instance, downloader)
        for item in t.instance_items(pipeline.table, instance):  # never committed past the listed size
            assert item["copied_bytes"] <= item["size"] <= written[0]
    # WHEN the file is rotated out (sealed) and copied to the end
    [item] = t.instance_items(pipeline.table, instance)
    capped.paths = {item["log_file_name"]: directory / "server_audit.log.1"}
    os.rename(path, directory / "server_audit.log.1")
    os.utime(directory / "server_audit.log.1", (1_700_000_000, 1_700_000_000))
    path.write_bytes(b"next\n")
    pipeline.detect(instance)
    copy_until_done(pipeline, instance, downloader)
    # THEN S3 holds every byte of it, once, and the table agrees
    item = t.get_item(pipeline.table, item["pk"], item["sk"]) or {}
    assert s3_bytes(pipeline, instance).get(item["sk"], b"") == content
    assert item["copied_bytes"] == len(content) and item["state"] == t.BACKED_UP


# -- sequence 9: time limits, copies over several invocations, part numbers -------------------------------
class Clock:
    """remaining_ms for a Downloader: plenty for the first ``calls`` questions, then none (no wall clock)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> int:
        self.calls -= 1
        return 900_000 if self.calls >= 0 else 0


def sealed_rds_mysql_file(
    pipeline: Pipeline, account: EmulatedAccount, lines: int
) -> tuple[Path, dict[str, Any]]:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    append(directory / "server_audit.log", 0, lines)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    append(directory / "server_audit.log", lines, 10)
    pipeline.detect("db-1", scheme="rds-mysql")
    sealed = next(i for i in t.instance_items(pipeline.table, "db-1") if i["sealed"])
    return directory / "server_audit.log.1", sealed


@pytest.mark.parametrize("refused", [False, True], ids=["complete-download", "paged"])
def test_a_sealed_rds_mysql_file_too_big_for_one_invocation_is_copied_over_several(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    # GIVEN a sealed rds-mysql file of ~4 MB and invocations that each have time for one 1 MB chunk or page
    # (paged: DownloadCompleteDBLogFile is refused, e.g. an IAM policy without it)
    from botocore.exceptions import ClientError

    from labkit.backup import downloader as module

    path, sealed = sealed_rds_mysql_file(pipeline, account, 60_000)
    if refused:

        def no_complete(*_: Any, **__: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "DownloadCompleteDBLogFile"
            )

        monkeypatch.setattr(module, "download_complete_log_file", no_complete)
    outcomes = []
    for n in range(20):
        outcome = pipeline.downloader(remaining_ms=Clock(1)).copy(sealed["pk"], sealed["sk"], f"seq-{n}")
        outcomes.append(outcome)
        item = t.get_item(pipeline.table, sealed["pk"], sealed["sk"])
        assert item is not None and "lease_owner" not in item  # a timeout never leaves the lease held
        if outcome.action != "copied" or item["state"] == t.BACKED_UP:
            break
        # each unfinished commit hands over to the next invocation (the stream filter lets it through)
        assert item["writer"] == CONTINUE_WRITER
    # THEN it took several invocations, and S3 holds the file exactly
    assert sum(o.action == "copied" for o in outcomes) > 2
    assert item["state"] == t.BACKED_UP and item["writer"] == DOWNLOADER_WRITER
    assert s3_bytes(pipeline, "db-1")[sealed["sk"]] == path.read_bytes()


def test_a_page_rebuild_out_of_time_commits_what_was_copied_and_releases_the_lease(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN an active file of two pages whose second page needs rebuilding (a non-UTF-8 byte)
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 20_000)  # 1.5 MB of clean lines: the first page is clean
    with open(active, "ab") as handle:
        handle.write(LATIN1)
    append(active, 20_000, 10)
    pipeline.detect("db-1")
    item = only_item(pipeline)
    assert item["size"] > 1024 * 1024
    # WHEN the time runs out while the second page is rebuilt
    outcome = pipeline.downloader(remaining_ms=Clock(1)).copy(item["pk"], item["sk"], "seq-1")
    # THEN the first page is committed, the lease is released, and the next invocation is woken
    after = only_item(pipeline)
    assert outcome.action == "copied" and 0 < after["copied_bytes"] < after["size"]
    assert "lease_owner" not in after and after["writer"] == CONTINUE_WRITER
    copy_until_done(pipeline, "db-1")
    assert s3_bytes(pipeline, "db-1")[item["sk"]] == active.read_bytes()


def test_a_complete_download_out_of_time_commits_what_was_copied(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 40_000)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    os.utime(directory / "server_audit.log.1", (1_700_000_000, 1_700_000_000))
    append(directory / "server_audit.log", 40_000, 10)
    pipeline.detect("db-1")
    sealed = next(i for i in t.instance_items(pipeline.table, "db-1") if i["sealed"])
    outcome = pipeline.downloader(remaining_ms=Clock(0)).copy(sealed["pk"], sealed["sk"], "seq-1")
    after = t.get_item(pipeline.table, sealed["pk"], sealed["sk"])
    assert after is not None and outcome.action == "copied" and 0 < after["copied_bytes"] < after["size"]
    assert "lease_owner" not in after and after["writer"] == CONTINUE_WRITER
    copy_until_done(pipeline, "db-1")
    assert s3_bytes(pipeline, "db-1")[sealed["sk"]] == (directory / "server_audit.log.1").read_bytes()


def test_part_numbers_go_past_five_digits(pipeline: Pipeline, account: EmulatedAccount) -> None:
    # GIVEN a file whose copy already wrote 99,999 parts
    active = account.add_instance("db-1") / "server_audit.log"
    append(active, 0, 10)
    pipeline.detect("db-1")
    item = only_item(pipeline)
    pipeline.table.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET parts = :n",
        ExpressionAttributeValues={":n": 99_999},
    )
    # WHEN the next bytes are copied THEN they go to part 100000, a key the layout can parse
    outcome = pipeline.downloader().copy(item["pk"], item["sk"], "seq-1")
    assert outcome.key.endswith(".part-100000.gz") and part_number(outcome.key) == 100_000
    assert only_item(pipeline)["parts"] == 100_000


def test_a_file_lost_by_the_downloader_expires_like_the_detectors(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    append(account.add_instance("db-1") / "server_audit.log", 0, 100)
    pipeline.detect("db-1")
    account.rds.delete_db_instance(DBInstanceIdentifier="db-1", SkipFinalSnapshot=True)
    item = only_item(pipeline)
    before = int(time.time())
    assert pipeline.downloader().copy(item["pk"], item["sk"], "s1").action == "lost"
    lost = only_item(pipeline)
    assert lost["state"] == t.LOST and before + 30 * 86400 <= lost["expires_at"] <= time.time() + 30 * 86400


def test_an_rds_mysql_file_whose_first_line_differs_is_not_copied(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a sealed rds-mysql item whose recorded fingerprint is another file's (the name moved on)
    _, sealed = sealed_rds_mysql_file(pipeline, account, 1_000)
    pipeline.table.update_item(
        Key={"pk": sealed["pk"], "sk": sealed["sk"]},
        UpdateExpression="SET head_sha = :h",
        ExpressionAttributeValues={":h": head_sha(b"some other file's first line\n")},
    )
    # WHEN copied THEN the copy refuses, and nothing is in S3 or committed (not even a lease)
    with pytest.raises(SourceChangedError):
        pipeline.downloader().copy(sealed["pk"], sealed["sk"], "seq-1")
    after = t.get_item(pipeline.table, sealed["pk"], sealed["sk"])
    assert after is not None and after["copied_bytes"] == 0 and "lease_owner" not in after
    assert s3_bytes(pipeline, "db-1") == {}


# -- issue 18 item 6: the complete download refused where a file resumes with no stored marker ---------------
def _answer(status: str, body: bytes) -> Any:
    def download_complete(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Type", "text/html")])
        return [body]

    return download_complete


REFUSALS = {  # what a route to RDS that does not serve the REST path may answer (only the refusal is faked)
    "403-access-denied": _answer(
        "403 Forbidden",
        b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
    ),
    "404-not-a-file-gone": _answer("404 Not Found", b"<html>Not Found</html>"),
    "503-unavailable": _answer("503 Service Unavailable", b"<html>Service Unavailable</html>"),
    "connection-refused": None,
}


def sealed_aurora_file_half_copied(
    pipeline: Pipeline, account: EmulatedAccount
) -> tuple[Path, dict[str, Any]]:
    """A sealed file whose first complete download ran out of time: bytes committed, no marker stored."""
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 40_000)
    os.rename(directory / "server_audit.log", directory / "server_audit.log.1")
    os.utime(directory / "server_audit.log.1", (1_700_000_000, 1_700_000_000))
    append(directory / "server_audit.log", 40_000, 10)
    pipeline.detect("db-1")
    sealed = next(i for i in t.instance_items(pipeline.table, "db-1") if i["sealed"])
    pipeline.downloader(remaining_ms=Clock(0)).copy(sealed["pk"], sealed["sk"], "seq-0")
    item = t.get_item(pipeline.table, sealed["pk"], sealed["sk"])
    assert item is not None and 0 < item["copied_bytes"] < item["size"] and item["marker"] == ""
    return directory / "server_audit.log.1", item


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_refused_complete_download_from_an_offset_falls_back_to_paging_and_is_counted(
    pipeline: Pipeline, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    import urllib3

    from labkit.backup import metrics as m
    from labkit.backup import rdslogs
    from labkit.handlers import downloader as handler
    from labkit.handlers.invocation import Tally

    # GIVEN a file resumed from an offset with no stored marker (its next copy is a complete download)
    path, item = sealed_aurora_file_half_copied(pipeline, account)
    # AND a route that refuses the REST complete download (faked: the emulator's answer, or the connection);
    # DownloadDBLogFilePortion is the emulator's own
    answer = REFUSALS[refusal]
    if answer is None:

        def refused(*_: Any, **__: Any) -> Any:
            raise urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]

        monkeypatch.setattr(rdslogs._POOL, "request", refused)
    else:
        monkeypatch.setattr(account.server.app, "_download_complete", answer)
    # WHEN it is copied, with the handler's own metric for each fallback
    tally = Tally()
    downloader = pipeline.downloader(**handler.callbacks(tally))
    outcomes = copy_until_done(pipeline, "db-1", downloader)
    # THEN it was paged instead, S3 holds the file exactly, and the fallback was counted
    after = t.get_item(pipeline.table, item["pk"], item["sk"])
    assert after is not None and after["state"] == t.BACKED_UP, outcomes
    assert s3_bytes(pipeline, "db-1")[item["sk"]] == path.read_bytes()
    assert tally.total(m.COMPLETE_DOWNLOAD_FALLBACKS) >= 1


def test_a_file_gone_during_a_complete_download_from_an_offset_is_lost_not_paged(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    # GIVEN a file resumed from an offset with no stored marker, then deleted by RDS (retention)
    path, item = sealed_aurora_file_half_copied(pipeline, account)
    path.unlink()
    fallbacks: list[Any] = []
    # WHEN it is copied THEN the complete download's "file gone" is the lost path, with no fallback
    outcome = pipeline.downloader(on_fallback=lambda *a: fallbacks.append(a)).copy(
        item["pk"], item["sk"], "s9"
    )
    assert outcome.action == "lost" and fallbacks == []
    after = t.get_item(pipeline.table, item["pk"], item["sk"])
    assert after is not None and after["state"] == t.LOST
