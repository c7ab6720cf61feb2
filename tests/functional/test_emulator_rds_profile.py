"""The emulator's aws RDS profile over HTTP, through botocore's real client (retries off): one token bucket per
account and Region answering Throttling as RDS does, and a portion call's latency plus transfer time.

The emulator's clock and sleep are injected: the bucket refills only when a test advances the clock, and
delays are recorded instead of slept, so nothing here depends on timing or on the machine's speed."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit.backup.rdslogs import download_complete_log_file, iter_portions, list_log_files
from labkit.config import load_config
from labkit.local.emulator import EmulatorServer
from labkit.local.emulator.rds_budget import RdsProfile
from tests.support.emulated import EmulatedAccount, audit_line

# total_max_attempts counts the first attempt (botocore's max_attempts counts retries only): no retry at all
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lab:
    """An emulator under ``profile`` with a fake clock and a recording sleep, and one instance, db-1."""

    def __init__(self, profile: RdsProfile, tmp: Path) -> None:
        self.clock = FakeClock()
        self.slept: list[float] = []
        self.server = EmulatorServer(0, profile=profile, clock=self.clock, sleep=self.slept.append)
        self.server.start()
        self.account = EmulatedAccount(self.server, tmp)
        # rds-mysql naming: the active file is audit/server_audit.log; set-up calls are not charged
        self.directory = self.account.add_instance("db-1", scheme="rds-mysql")

    def client(self, region: str = "us-east-1"):  # type: ignore[no-untyped-def]
        return self.account.client("rds", config=NO_RETRY, region_name=region)

    def rds_calls(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.account.url}/labkit-api/rds-calls", timeout=10) as response:
            answer: dict[str, object] = json.load(response)
        return answer


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator[Callable[[RdsProfile], Lab]]:
    from moto.backends import get_backend

    labs: list[Lab] = []

    def make(profile: RdsProfile) -> Lab:
        labs.append(Lab(profile, tmp_path / str(len(labs))))
        return labs[-1]

    try:
        yield make
    finally:
        for lab in labs:
            lab.server.stop()
        get_backend("rds").reset()


def throttled(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as exc:
        error, meta = exc.response["Error"], exc.response["ResponseMetadata"]
        assert (error["Code"], error["Message"], meta["HTTPStatusCode"]) == (
            "Throttling",
            "Rate exceeded",
            400,
        )
        return True
    return False


def test_calls_past_the_burst_are_throttled_until_the_bucket_refills(lab_factory) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the aws profile with a 4-token burst refilling at 2/s, and one audit file
    lab = lab_factory(RdsProfile("aws", burst=4, refill_per_s=2.0))
    (lab.directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(100)))
    name = "audit/server_audit.log"
    first, second = lab.client(), lab.client()
    # WHEN two clients of the same account and Region call four different actions, then more
    calls = [
        lambda: first.describe_db_log_files(DBInstanceIdentifier="db-1"),
        lambda: second.download_db_log_file_portion(
            DBInstanceIdentifier="db-1", LogFileName=name, Marker="0"
        ),
        lambda: first.describe_db_instances(DBInstanceIdentifier="db-1"),
        lambda: second.describe_db_clusters(),
        lambda: first.describe_events(),
        lambda: second.describe_db_log_files(DBInstanceIdentifier="db-1"),
    ]
    # THEN the four first share the burst and the rest answer Throttling, HTTP 400, "Rate exceeded"
    assert [throttled(call) for call in calls] == [False] * 4 + [True] * 2
    # AND the REST complete download spends from the same bucket
    complete = lambda: b"".join(  # noqa: E731
        download_complete_log_file(first, lab.account.session.get_credentials(), "db-1", name)
    )
    assert throttled(complete)
    # WHEN one second passes (2 tokens), THEN two calls pass and the third is throttled
    lab.clock.now += 1.0
    assert [throttled(call) for call in (complete, calls[0], calls[4])] == [False, False, True]
    # AND another Region's bucket is its own: full
    assert not throttled(lambda: lab.client("eu-west-1").describe_db_instances())
    # AND the emulator counts the throttled answers by action
    assert lab.rds_calls()["throttled"] == {
        "DescribeEvents": 2,
        "DescribeDBLogFiles": 1,
        "DownloadCompleteDBLogFile": 1,
    }
    # AND each bucket's usage: the calls it admitted (6 here, 1 there), against burst + refill x its age
    assert lab.rds_calls()["budget"] == {
        "123456789012/us-east-1": {"admitted": 6, "age_s": 1.0, "allowed": 6.0},
        "123456789012/eu-west-1": {"admitted": 1, "age_s": 0.0, "allowed": 4.0},
    }


def test_throttling_is_what_botocore_retries(lab_factory) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a 1-token burst and a bucket that refills only when the clock moves
    lab = lab_factory(RdsProfile("aws", burst=1, refill_per_s=1.0))
    client = lab.account.client("rds", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    client.describe_db_instances()
    # WHEN the bucket is empty, THEN botocore treats the answer as throttling and retries it (3 attempts)
    with pytest.raises(ClientError) as caught:
        client.describe_db_instances()
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2


def test_the_default_profile_never_throttles_whatever_the_rds_settings(lab_factory) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the default (fast) profile built from a config whose budget settings would allow one call
    profile = RdsProfile.from_config(load_config(env={}, rds_burst=1, rds_refill_per_s=0.0))
    assert profile.name == "fast"
    lab = lab_factory(profile)
    (lab.directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(10)))
    client = lab.client()
    # WHEN 50 calls of every kind arrive with the clock stopped, THEN none is throttled, none delayed
    for _ in range(10):
        client.describe_db_log_files(DBInstanceIdentifier="db-1")
        client.describe_db_instances()
        client.describe_events()
        list(iter_portions(client, "db-1", "audit/server_audit.log"))
        b"".join(
            download_complete_log_file(
                client, lab.account.session.get_credentials(), "db-1", "audit/server_audit.log"
            )
        )
    assert lab.rds_calls()["throttled"] == {}
    assert lab.slept == []


def test_a_portion_costs_its_latency_plus_bytes_over_the_page_rate(lab_factory) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the aws profile at 50 ms per call and 0.5 MB/s per file, and a 2.5 MB file
    lab = lab_factory(RdsProfile("aws", call_latency_ms=50, portion_mb_s=0.5, complete_mb_s=4.0))
    data = b"".join(audit_line(i) for i in range(32_000))
    assert len(data) > 2_500_000
    (lab.directory / "server_audit.log").write_bytes(data)
    client = lab.client()
    name = list_log_files(client, "db-1")[0]["LogFileName"]
    assert lab.slept == [pytest.approx(0.05)]  # a describe call: the fixed latency only
    # WHEN it is paged from Marker 0
    lab.slept.clear()
    pages = list(iter_portions(client, "db-1", name))
    # THEN each page waited 50 ms plus its own bytes at 0.5 MB/s, and the pages are the file
    assert b"".join(p.data for p in pages) == data
    assert lab.slept == [pytest.approx(0.05 + len(p.data) / 500_000) for p in pages]
    # WHEN it is downloaded whole, THEN the stream took the call's latency plus size at 4 MB/s
    lab.slept.clear()
    got = b"".join(download_complete_log_file(client, lab.account.session.get_credentials(), "db-1", name))
    assert got == data
    assert lab.slept[0] == pytest.approx(0.05)
    assert sum(lab.slept[1:]) == pytest.approx(len(data) / 4_000_000)
