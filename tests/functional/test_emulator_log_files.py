"""The RDS log-file APIs of the emulator, through botocore's real client over HTTP (moto's server on
loopback). Audit files here are synthetic lines in MariaDB's format so each AWS rule can be hit exactly;
tests/e2e repeats the byte-for-byte checks on files MariaDB really writes."""

from __future__ import annotations

import os
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit.backup.rdslogs import download_complete_log_file, iter_portions, list_log_files
from labkit.local.emulator.portions import PORTION_CAP, TRUNCATION_TEXT
from tests.support.emulated import EmulatedAccount, audit_line, set_faults, sha256


def write_lines(path, count: int, start: int = 0) -> bytes:
    data = b"".join(audit_line(i) for i in range(start, start + count))
    with open(path, "ab") as handle:
        handle.write(data)
    return data


def test_paging_from_marker_zero_reproduces_the_file(account: EmulatedAccount) -> None:
    # GIVEN a 3.5 MB audit file
    directory = account.add_instance("db-1")
    data = write_lines(directory / "server_audit.log", 45_000)
    assert len(data) > 3 * PORTION_CAP
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    # WHEN it is paged from Marker "0" with the raw API
    pages = list(iter_portions(account.rds, "db-1", name))
    # THEN every page is at most 1 MB, cut at a line end, and together they are the file
    assert len(pages) >= 4
    assert all(len(p.data) <= PORTION_CAP and p.data.endswith(b"\n") for p in pages)
    assert [p.pending for p in pages] == [True] * (len(pages) - 1) + [False]
    assert sha256(b"".join(p.data for p in pages)) == sha256(data)


def test_botocore_paginator_reproduces_the_file(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    data = write_lines(directory / "server_audit.log", 30_000)
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    paginator = account.rds.get_paginator("download_db_log_file_portion")
    pages = paginator.paginate(
        DBInstanceIdentifier="db-1", LogFileName=name, PaginationConfig={"StartingToken": "0"}
    )
    assert b"".join(p["LogFileData"].encode() for p in pages) == data


def test_complete_download_streams_the_exact_bytes(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    data = write_lines(directory / "server_audit.log", 30_000) + b"\xff\xfe not utf-8 \x00\r\n"
    with open(directory / "server_audit.log", "ab") as handle:
        handle.write(b"\xff\xfe not utf-8 \x00\r\n")
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    got = b"".join(download_complete_log_file(account.rds, account.session.get_credentials(), "db-1", name))
    assert got == data


def test_complete_download_requires_a_sigv4_signature(account: EmulatedAccount) -> None:
    account.add_instance("db-1")
    url = f"{account.url}/v13/downloadCompleteLogFile/db-1/audit/server_audit.log"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url)
    assert caught.value.code == 403


def test_describe_reports_real_size_and_mtime_and_filters(account: EmulatedAccount) -> None:
    # GIVEN three files in the rds-mysql scheme, the older ones rotated
    directory = account.add_instance("db-1", scheme="rds-mysql")
    for suffix, count, mtime in (
        (".2", 10, 1_700_000_000),
        (".1", 100, 1_700_000_100),
        ("", 1000, 1_700_000_200),
    ):
        write_lines(directory / f"server_audit.log{suffix}", count)
        os.utime(directory / f"server_audit.log{suffix}", (mtime, mtime))
    os.utime(directory / "server_audit.log.1", ns=(1_700_000_100_123_456_789, 1_700_000_100_123_456_789))
    (directory / "unrelated.txt").write_text("not an audit file")
    # WHEN listed
    files = account.rds.describe_db_log_files(DBInstanceIdentifier="db-1")["DescribeDBLogFiles"]
    # THEN names follow RDS for MySQL, sizes are real bytes and LastWritten is the mtime in ms
    assert [f["LogFileName"] for f in files] == [
        "audit/server_audit.log.2",
        "audit/server_audit.log.1",
        "audit/server_audit.log",
    ]
    assert [f["Size"] for f in files] == [
        os.path.getsize(directory / f"server_audit.log{s}") for s in (".2", ".1", "")
    ]
    assert files[1]["LastWritten"] == 1_700_000_100_123

    # AND the filters narrow the list as AWS documents them
    def names(**kw: object) -> list[str]:
        return [
            f["LogFileName"]
            for f in account.rds.describe_db_log_files(DBInstanceIdentifier="db-1", **kw)[
                "DescribeDBLogFiles"
            ]
        ]

    assert names(FilenameContains=".1") == ["audit/server_audit.log.1"]
    assert names(FileLastWritten=1_700_000_100_123) == ["audit/server_audit.log.1", "audit/server_audit.log"]
    assert names(FileSize=files[1]["Size"]) == ["audit/server_audit.log"]


def test_describe_pages_with_max_records_and_marker(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    for n in range(1, 25):
        write_lines(directory / f"server_audit.log.{n}", 1)
    write_lines(directory / "server_audit.log", 1)
    first = account.rds.describe_db_log_files(DBInstanceIdentifier="db-1", MaxRecords=20)
    assert len(first["DescribeDBLogFiles"]) == 20 and first["Marker"]
    second = account.rds.describe_db_log_files(
        DBInstanceIdentifier="db-1", MaxRecords=20, Marker=first["Marker"]
    )
    assert len(second["DescribeDBLogFiles"]) == 5 and "Marker" not in second
    everything = list_log_files(account.rds, "db-1", filename_contains="server_audit")
    assert len({f["LogFileName"] for f in everything}) == 25


def test_number_of_lines_and_tail(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    data = write_lines(directory / "server_audit.log", 20_000)
    lines = data.splitlines(keepends=True)
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    head = account.rds.download_db_log_file_portion(
        DBInstanceIdentifier="db-1", LogFileName=name, Marker="0", NumberOfLines=7
    )
    assert head["LogFileData"].encode() == b"".join(lines[:7]) and head["AdditionalDataPending"] is True
    tail = account.rds.download_db_log_file_portion(
        DBInstanceIdentifier="db-1", LogFileName=name, NumberOfLines=5
    )
    assert tail["LogFileData"].encode() == b"".join(lines[-5:]) and tail["AdditionalDataPending"] is False
    default_tail = account.rds.download_db_log_file_portion(DBInstanceIdentifier="db-1", LogFileName=name)
    assert default_tail["LogFileData"].encode() == b"".join(lines[-10_000:])


def test_a_line_longer_than_1mb_comes_back_cut_with_awss_text(account: EmulatedAccount) -> None:
    # GIVEN a statement of 1.5 MB between two ordinary lines
    directory = account.add_instance("db-1")
    huge = audit_line(2, "INSERT INTO t VALUES ('" + "x" * 1_500_000 + "')")
    data = audit_line(1) + huge + audit_line(3)
    (directory / "server_audit.log").write_bytes(data)
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    # WHEN paged
    pages = [p.data for p in iter_portions(account.rds, "db-1", name)]
    # THEN the long line is cut at 1 MB with the truncation text, and paging goes on after it
    joined = b"".join(pages)
    assert TRUNCATION_TEXT in joined
    assert all(len(p) <= PORTION_CAP for p in pages)
    assert joined.startswith(audit_line(1)) and joined.endswith(audit_line(3))
    assert len(joined) < len(data)  # the API cannot return the whole line: only the complete download can
    complete = b"".join(
        download_complete_log_file(account.rds, account.session.get_credentials(), "db-1", name)
    )
    assert complete == data


def test_non_utf8_bytes_are_replaced_visibly_never_silently(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(
        audit_line(1) + b"20261126 15:29:21,vm,u,h,1,2,QUERY,db,'SELECT \xe9\xff',0\n"
    )
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    answer = account.rds.download_db_log_file_portion(
        DBInstanceIdentifier="db-1", LogFileName=name, Marker="0"
    )
    assert "\ufffd" in answer["LogFileData"]
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-labkit-replaced-bytes"] == "2"
    assert (directory / "server_audit.log").read_bytes().endswith(b"\xe9\xff',0\n")  # the file is untouched


def test_carriage_returns_survive_the_xml_answer(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    data = audit_line(1, "SELECT '\r\n' /* & <tag> */") + audit_line(2)
    (directory / "server_audit.log").write_bytes(data)
    name = list_log_files(account.rds, "db-1")[0]["LogFileName"]
    assert b"".join(p.data for p in iter_portions(account.rds, "db-1", name)) == data


def test_unknown_file_is_a_404_dblogfilenotfoundfault(account: EmulatedAccount) -> None:
    account.add_instance("db-1")
    with pytest.raises(ClientError) as caught:
        account.rds.download_db_log_file_portion(
            DBInstanceIdentifier="db-1", LogFileName="audit/nope", Marker="0"
        )
    assert caught.value.response["Error"]["Code"] == "DBLogFileNotFoundFault"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as complete:
        list(download_complete_log_file(account.rds, account.session.get_credentials(), "db-1", "audit/nope"))
    assert complete.value.response["Error"]["Code"] == "DBLogFileNotFoundFault"


def test_unknown_or_deleted_instance_is_dbinstancenotfound(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1")
    write_lines(directory / "server_audit.log", 10)
    with pytest.raises(account.rds.exceptions.DBInstanceNotFoundFault):
        account.rds.describe_db_log_files(DBInstanceIdentifier="no-such-db")
    account.rds.delete_db_instance(DBInstanceIdentifier="db-1", SkipFinalSnapshot=True)
    with pytest.raises(account.rds.exceptions.DBInstanceNotFoundFault):
        account.rds.download_db_log_file_portion(
            DBInstanceIdentifier="db-1", LogFileName="audit/server_audit.log", Marker="0"
        )


def test_invalid_marker_is_refused(account: EmulatedAccount) -> None:
    directory = account.add_instance("db-1", scheme="rds-mysql")
    write_lines(directory / "server_audit.log", 10)
    with pytest.raises(ClientError) as caught:
        account.rds.download_db_log_file_portion(
            DBInstanceIdentifier="db-1", LogFileName="audit/server_audit.log", Marker="abc"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_throttling_knob_and_botocore_retries(account: EmulatedAccount) -> None:
    # GIVEN every log-file call throttled
    directory = account.add_instance("db-1", scheme="rds-mysql")
    write_lines(directory / "server_audit.log", 10)
    set_faults(account.url, throttle_rate=1.0)
    no_retry = account.client("rds", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    # THEN a client that does not retry sees AWS's Throttling error
    with pytest.raises(ClientError) as caught:
        no_retry.describe_db_log_files(DBInstanceIdentifier="db-1")
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert caught.value.response["Error"]["Message"] == "Rate exceeded"
    # AND at 50% botocore's standard retries get every call through (retrying until one was needed)
    set_faults(account.url, throttle_rate=0.5)
    retrying = account.client("rds", config=Config(retries={"mode": "standard", "max_attempts": 12}))
    retried = 0
    for _ in range(40):
        answer = retrying.describe_db_log_files(DBInstanceIdentifier="db-1")
        retried += answer["ResponseMetadata"]["RetryAttempts"]
        if retried:
            break
    assert retried > 0
    # AND the knob is off again when set to 0; other services are never throttled
    assert set_faults(account.url, throttle_rate=0.0)["throttle_rate"] == 0.0
    no_retry.describe_db_log_files(DBInstanceIdentifier="db-1")


def test_other_services_pass_through_to_moto(account: EmulatedAccount) -> None:
    s3 = account.client("s3")
    s3.create_bucket(Bucket="lab-bucket")
    s3.put_object(Bucket="lab-bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="lab-bucket", Key="k")["Body"].read() == b"v"
    assert account.rds.describe_db_instances()["DBInstances"] == []


def test_latency_knob_delays_every_log_file_call(account: EmulatedAccount) -> None:
    import time

    directory = account.add_instance("db-1", scheme="rds-mysql")
    write_lines(directory / "server_audit.log", 10)
    assert set_faults(account.url, latency_ms=300)["latency_ms"] == 300
    started = time.monotonic()
    account.rds.describe_db_log_files(DBInstanceIdentifier="db-1")
    delayed = time.monotonic() - started
    set_faults(account.url, latency_ms=0)
    assert delayed >= 0.3  # a lower bound the emulator guarantees (it sleeps), not a speed target
