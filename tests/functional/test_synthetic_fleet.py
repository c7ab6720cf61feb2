"""The synthetic Aurora fleet (labkit.local.fleet) through botocore's real RDS client against the emulator over
HTTP: the instances and clusters RDS lists, four files written at once under Aurora's names, paging and both
downloads serving the bytes on disk, rotation by size and by period, retention by count and by age with the
emulator's deletion events, and a Hypothesis property over drawn write/rotation/retention histories.

The fleet's clock is a fake one the tests advance (nothing sleeps); the files, the HTTP and the listings are
real. The deletion watcher publishes into a list instead of the detector's queue (no pipeline here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import rdsevents
from labkit.backup.rdslogs import download_complete_log_file, iter_portions, list_log_files
from labkit.local.emulator.deletion_events import DeletionWatcher
from labkit.local.emulator.rds_api import instance_exists
from labkit.local.fleet import FleetSpec, FleetSpecError, SyntheticFleet
from tests.support.emulated import EmulatedAccount

AURORA_NAME = re.compile(r"audit/audit\.log\.([0-3])\.\d{4}-\d\d-\d\d-\d\d-\d\d\.\d+")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FleetLab:
    """A fleet registered in the account's emulator, its fake clock, and a deletion watcher into a list."""

    def __init__(self, account: EmulatedAccount, root: Path, **spec: Any) -> None:
        self.account, self.rds, self.clock = account, account.rds, FakeClock()
        settings_ = {"instances": 1, "total_bytes_s": 4_000.0, "probe_interval_s": 0.0, **spec}
        self.fleet = SyntheticFleet(FleetSpec(**settings_), root, self.clock)
        self.fleet.register(self.rds, account.server.app)
        self.events: list[str] = []
        self.watcher = DeletionWatcher(
            account.server.app.registered,
            lambda instance_id: instance_exists(instance_id, "us-east-1"),
            self.events.append,
            region="us-east-1",
            account_id="123456789012",
            topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        )
        self.watcher.check()  # the baseline look

    def run(self, seconds: float, tick_s: float = 1.0) -> None:
        for _ in range(round(seconds / tick_s)):
            self.clock.now += tick_s
            self.fleet.step()

    def listing(self, instance_id: str = "fleet-0000") -> dict[str, int]:
        return {f["LogFileName"]: f["Size"] for f in list_log_files(self.rds, instance_id)}

    def deleted_events(self) -> dict[tuple[str, str], int | None]:
        """(instance, file name) -> the size the event says, for every deletion event published."""
        found = {}
        for body in self.events:
            deleted = rdsevents.deleted_file_in(body)
            assert deleted is not None, body
            found[(deleted.instance_id, deleted.name)] = deleted.size
        return found

    def stop(self) -> None:
        self.watcher.stop()


@pytest.fixture
def lab_factory(account: EmulatedAccount, tmp_path: Path) -> Iterator[Any]:
    labs: list[FleetLab] = []

    def make(**spec: Any) -> FleetLab:
        labs.append(FleetLab(account, tmp_path / f"fleet-{len(labs)}", prefix=f"f{len(labs)}", **spec))
        return labs[-1]

    yield make
    for lab in labs:
        lab.stop()


def test_the_fleet_is_listed_as_aurora_instances_in_their_clusters(lab_factory: Any) -> None:
    # GIVEN a fleet of 5 instances over 2 clusters
    lab = lab_factory(instances=5, clusters=2)
    # WHEN RDS is asked for its instances and clusters (botocore's paginators)
    instances = [
        db
        for page in lab.rds.get_paginator("describe_db_instances").paginate(PaginationConfig={"PageSize": 20})
        for db in page["DBInstances"]
    ]
    clusters = lab.rds.describe_db_clusters()["DBClusters"]
    # THEN every instance is an available aurora-mysql instance of one of the two clusters
    ids = {db["DBInstanceIdentifier"]: db for db in instances}
    assert set(ids) == {f"f0-{i:04d}" for i in range(5)}
    assert {db["Engine"] for db in instances} == {"aurora-mysql"}
    members = {
        c["DBClusterIdentifier"]: {m["DBInstanceIdentifier"] for m in c["DBClusterMembers"]} for c in clusters
    }
    assert members == {"f0-c00": {"f0-0000", "f0-0002", "f0-0004"}, "f0-c01": {"f0-0001", "f0-0003"}}


def test_each_instance_writes_four_files_at_once_under_aurora_names(lab_factory: Any) -> None:
    # GIVEN one instance writing 4 KB/s
    lab = lab_factory()
    # WHEN it has written for 5 s, then 5 s more
    lab.run(5)
    first = lab.listing("f0-0000")
    lab.run(5)
    second = lab.listing("f0-0000")
    # THEN RDS lists four files, one per stream audit.log.0-3, each named for good and each still growing
    assert len(first) == 4
    assert sorted(AURORA_NAME.fullmatch(name).group(1) for name in first) == ["0", "1", "2", "3"]  # type: ignore[union-attr]
    assert set(second) == set(first)
    assert all(second[name] > first[name] > 0 for name in first)
    assert sum(second.values()) == lab.fleet.produced


def test_paging_and_both_downloads_serve_the_bytes_on_disk(lab_factory: Any) -> None:
    # GIVEN an instance whose streams have rotated a few times (small files)
    lab = lab_factory(total_bytes_s=8_000.0, rotate_bytes=3_000, probe_interval_s=2.0)
    lab.run(10)
    audit = lab.fleet.audit["f0-0000"]
    on_disk = {f.name: f.path.read_bytes() for f in audit.files()}
    assert len(on_disk) > 8
    # WHEN the files are listed two at a time, and each is paged and downloaded whole
    paged = [
        f["LogFileName"]
        for page in lab.rds.get_paginator("describe_db_log_files").paginate(
            DBInstanceIdentifier="f0-0000", PaginationConfig={"PageSize": 2}
        )
        for f in page["DescribeDBLogFiles"]
    ]
    credentials = lab.account.session.get_credentials()
    # THEN the pages list every file once, and both downloads give each file's exact bytes
    assert sorted(paged) == sorted(on_disk)
    for name, data in on_disk.items():
        assert b"".join(p.data for p in iter_portions(lab.rds, "f0-0000", name)) == data
        assert b"".join(download_complete_log_file(lab.rds, credentials, "f0-0000", name)) == data
    # AND the probe lines are in Aurora's format with the instance as serverhost
    probes = [line for data in on_disk.values() for line in data.splitlines() if b"fleet-probe-" in line]
    assert len(probes) == len(lab.fleet.probes) >= 5
    assert all(re.fullmatch(rb"\d{16},f0-0000,app,[^,]+,\d+,\d+,QUERY,shop,'.*',0", p) for p in probes)


def test_a_file_rotates_at_the_size_and_is_never_written_again(lab_factory: Any) -> None:
    # GIVEN a 2,500-byte rotate size and 4 KB/s over four files (1,000 bytes a second each)
    lab = lab_factory(rotate_bytes=2_500)
    lab.run(1)
    before = lab.listing("f0-0000")
    # WHEN the files pass the size (at 3 s), and the writer goes on for 2 s
    lab.run(2)
    rotated = lab.listing("f0-0000")
    lab.run(1)
    after = lab.listing("f0-0000")
    lab.run(1)
    later = lab.listing("f0-0000")
    # THEN each stream's first file stopped once past the size (by less than one write) and is frozen
    for name in before:
        assert 2_500 <= rotated[name] < 2_500 + 1_000
        assert later[name] == after[name] == rotated[name]
    # AND a new name per stream took over and grows
    new = set(after) - set(before)
    assert sorted(AURORA_NAME.fullmatch(n).group(1) for n in new) == ["0", "1", "2", "3"]  # type: ignore[union-attr]
    assert all(later[n] > after[n] > 0 for n in new)


def test_every_file_rotates_at_the_period_boundary(lab_factory: Any) -> None:
    # GIVEN an hourly rotation scaled down to 60 s
    lab = lab_factory(rotate_period_s=60.0)
    lab.run(59)
    first = lab.listing("f0-0000")
    # WHEN the period's boundary passes
    lab.run(3)
    second = lab.listing("f0-0000")
    # THEN all four files rotated at once: four new names, the old ones frozen
    assert len(first) == 4 and len(second) == 8
    lab.run(2)
    third = lab.listing("f0-0000")
    assert all(third[name] == second[name] for name in first)
    assert all(third[name] > second[name] for name in set(second) - set(first))


def test_retention_by_count_deletes_the_oldest_files_and_raises_their_deletion_events(
    lab_factory: Any,
) -> None:
    # GIVEN at most 6 files per instance and a file per stream every ~2 s
    lab = lab_factory(rotate_bytes=2_000, retention_files=6)
    names_seen: list[str] = []
    for _ in range(12):
        lab.run(1)
        names_seen += [n for n in lab.listing("f0-0000") if n not in names_seen]
        lab.watcher.check()
    # WHEN the listing is taken now
    listed = lab.listing("f0-0000")
    # THEN 6 files are left, the newest ones; every older one is gone for good and raised its event
    assert len(listed) == 6
    deleted = {(d.instance_id, d.name): d.size for d in lab.fleet.deleted}
    assert {name for _, name in deleted} == set(names_seen) - set(listed) and deleted
    assert lab.deleted_events() == deleted  # names and final sizes, one event each
    assert len(lab.events) == len(deleted)
    _, gone = next(iter(deleted))
    with pytest.raises(ClientError) as error:
        lab.rds.download_db_log_file_portion(DBInstanceIdentifier="f0-0000", LogFileName=gone, Marker="0")
    assert error.value.response["Error"]["Code"] == "DBLogFileNotFoundFault"


def test_retention_by_age_deletes_rotated_files_past_it(lab_factory: Any) -> None:
    # GIVEN files rotating every period of 10 s and a retention of 25 s
    lab = lab_factory(rotate_period_s=10.0, retention_s=25.0)
    lab.run(12)
    lab.watcher.check()
    first_files = set(lab.listing("f0-0000"))
    # WHEN 30 s more pass (the first files' last write is then 28 s old or more)
    lab.run(30)
    lab.watcher.check()
    listed = lab.listing("f0-0000")
    # THEN the first period's files are deleted with events; nothing younger than the retention is
    first_period = {n for n in first_files if n not in lab.listing("f0-0000")}
    assert first_period and {name for _, name in lab.deleted_events()} >= first_period
    assert all(d.name not in listed for d in lab.fleet.deleted)
    assert len(first_period) == 4
    assert len(listed) == 4 * 4  # the files written in the last 25 s: three rotated periods and the active


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"instances": 0, "total_bytes_s": 1.0}, "at least 1 instance"),
        ({"instances": 2, "total_bytes_s": -1.0}, "use a rate >= 0"),
        ({"instances": 2, "total_bytes_s": 1.0, "retention_files": 3}, "keep at least the 4 files"),
        ({"instances": 2, "total_bytes_s": 1.0, "clusters": 3}, "use 1 to instances"),
    ],
)
def test_bad_fleet_settings_say_what_to_use(tmp_path: Path, spec: dict[str, Any], says: str) -> None:
    with pytest.raises(FleetSpecError, match=says):
        SyntheticFleet(FleetSpec(**spec), tmp_path)


# -- the property over histories -------------------------------------------------------------------------------
STEPS = st.lists(st.sampled_from([0.5, 1.0, 3.0, 7.0, 20.0]), min_size=1, max_size=12)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    instances=st.integers(1, 2),
    streams=st.integers(1, 4),
    rate=st.sampled_from([0.0, 500.0, 3_000.0, 20_000.0]),
    rotate_bytes=st.integers(400, 6_000),
    rotate_period_s=st.sampled_from([0.0, 5.0, 30.0]),
    retention_s=st.sampled_from([0.0, 10.0, 60.0]),
    extra_files=st.sampled_from([None, 0, 2, 5]),
    steps=STEPS,
)
def test_what_rds_lists_is_what_is_on_disk_through_any_history(
    account: EmulatedAccount,
    tmp_path_factory: pytest.TempPathFactory,
    instances: int,
    streams: int,
    rate: float,
    rotate_bytes: int,
    rotate_period_s: float,
    retention_s: float,
    extra_files: int | None,
    steps: list[float],
) -> None:
    """For every drawn history of writes, rotations and retention: DescribeDBLogFiles lists exactly the files on
    disk (count and sizes, per stream), a name's size never shrinks, a deleted name never comes back, and every
    deletion raised one event naming that file."""
    n = len(account.server.app.registered())
    lab = FleetLab(
        account,
        tmp_path_factory.mktemp("fleet"),
        prefix=f"h{n}",
        instances=instances,
        streams=streams,
        total_bytes_s=rate,
        line_bytes=100,
        rotate_bytes=rotate_bytes,
        rotate_period_s=rotate_period_s,
        retention_s=retention_s,
        retention_files=0 if extra_files is None else streams + extra_files,
        probe_interval_s=2.0,
    )
    try:
        sizes: dict[tuple[str, str], int] = {}  # (instance, name): names are per instance
        gone: set[tuple[str, str]] = set()
        for dt in steps:
            lab.clock.now += dt
            lab.fleet.step()
            lab.watcher.check()
            for instance_id in lab.fleet.spec.instance_ids():
                listed = lab.listing(instance_id)
                on_disk = lab.fleet.files_on_disk(instance_id)
                assert sorted(listed.values()) == sorted(on_disk.values())
                per_stream = sorted(int(AURORA_NAME.fullmatch(name).group(1)) for name in listed)  # type: ignore[union-attr]
                assert per_stream == sorted(int(path.parent.name) for path in on_disk)
                assert not {(instance_id, name) for name in listed} & gone, "a deleted name came back"
                for name, size in listed.items():
                    assert size >= sizes.get((instance_id, name), 0), f"{instance_id} {name} shrank"
                    sizes[(instance_id, name)] = size
            known_now = {(i, n) for i in lab.fleet.spec.instance_ids() for n in lab.listing(i)}
            gone |= set(sizes) - known_now
        deleted = {(d.instance_id, d.name): d.size for d in lab.fleet.deleted}
        assert set(deleted) >= gone
        events = lab.deleted_events()
        assert set(events) == set(deleted)
        assert all(
            events[key] in (None, size) for key, size in deleted.items()
        )  # a size said is the final one
        assert len(lab.events) == len(lab.fleet.deleted)
        if extra_files is not None:
            assert all(len(lab.listing(i)) <= streams + extra_files for i in lab.fleet.spec.instance_ids())
    finally:
        lab.stop()
