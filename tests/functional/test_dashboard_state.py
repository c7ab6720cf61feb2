"""The dashboards read what the real detector and downloader wrote: items in the tracking table and gzip
parts in S3 of the emulated account, through a LabConfig as a notebook would pass it."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.scanner import InstanceMessage
from labkit.backup.table import table_definition
from labkit.config import LabConfig
from labkit.dashboard import (
    BackupStoreError,
    backup_parts,
    backup_state,
    failed_logins,
    load_audit_events,
    loss_risk_table,
)
from tests.support.emulated import EmulatedAccount, audit_line

PROJECT = "dash"
SQL = r"SELECT c FROM t WHERE note = \'a,b\' AND id=?"  # as server_audit writes it: quotes escaped
FAILED_LOGIN = b"20261126 15:29:22,vm,app,10.0.0.9,14,0,FAILED_CONNECT,,,1045\n"
GRANT = (
    b"20261126 15:29:23,vm,root,localhost,15,7,QUERY,shop,'GRANT SELECT ON shop.* TO \\'app\\'@\\'%\\'',0\n"
)


class Lab:
    """The emulated account with the lab's table and bucket, named as ``LabConfig(project=PROJECT)`` names them."""

    def __init__(self, account: EmulatedAccount) -> None:
        self.account = account
        self.config = LabConfig(target="local", endpoint_url=account.url, project=PROJECT)
        names = self.config.names
        self.s3 = account.client("s3")
        self.s3.create_bucket(Bucket=names.bucket)
        account.client("dynamodb").create_table(**table_definition(names.table))
        self.table = account.session.resource("dynamodb", endpoint_url=account.url).Table(names.table)
        self.seq = 0

    def detect(self, instance_id: str) -> None:
        message = InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora")
        detect(self.account.rds, self.table, message, seal_after_s=0.0, ttl_days=30)

    def copy_all(self, instance_id: str) -> None:
        for item in t.instance_items(self.table, instance_id):
            if item["copied_bytes"] < item["size"] and "vanished_at" not in item:
                self.seq += 1
                Downloader(
                    rds=self.account.rds,
                    s3=self.s3,
                    table=self.table,
                    credentials=self.account.session.get_credentials(),
                    bucket=self.config.names.bucket,
                    prefix=self.config.log_prefix,
                    lease_ms=60_000,
                ).copy(item["pk"], item["sk"], str(self.seq))


def write(path: Path, first: int, count: int, extra: bytes = b"") -> None:
    with open(path, "ab") as handle:
        handle.write(b"".join(audit_line(i, SQL) for i in range(first, first + count)))
        handle.write(extra)


@pytest.fixture
def lab(account: EmulatedAccount) -> Lab:
    return Lab(account)


def test_state_and_parts_are_read_from_the_real_table_and_bucket(lab: Lab, account: EmulatedAccount) -> None:
    # GIVEN db-1 with a file copied in two parts, and db-2 whose older file was deleted before any copy
    one = account.add_instance("db-1")
    write(one / "server_audit.log", 0, 2000, FAILED_LOGIN)
    lab.detect("db-1")
    lab.copy_all("db-1")
    write(one / "server_audit.log", 2000, 1000, GRANT)
    lab.detect("db-1")
    lab.copy_all("db-1")
    two = account.add_instance("db-2")
    write(two / "server_audit.log.1", 0, 100)
    write(two / "server_audit.log", 100, 100)
    lab.detect("db-2")
    gone_size = (two / "server_audit.log.1").stat().st_size
    (two / "server_audit.log.1").unlink()  # deleted by retention
    lab.detect("db-2")

    # WHEN the dashboards read the target
    state = backup_state(lab.config)
    parts = backup_parts(lab.config)

    # THEN one row per tracked file, with what the pipeline recorded
    size = (one / "server_audit.log").stat().st_size
    ((_, copied),) = state[state["instance_id"] == "db-1"].iterrows()
    assert (copied["state"], copied["size"], copied["copied_bytes"], copied["parts"]) == (
        t.PARTIAL,
        size,
        size,
        2,
    )
    assert copied["cluster_id"] == "db-1-cluster" and copied["pending_bytes"] == 0
    db2 = state[state["instance_id"] == "db-2"].set_index("state")
    assert sorted(db2.index) == [t.DETECTED, t.LOST]
    assert db2.loc[t.LOST, "lost_bytes"] == db2.loc[t.LOST, "size"] == gone_size
    assert db2.loc[t.LOST, "pending_bytes"] == 0
    assert db2.loc[t.DETECTED, "pending_bytes"] == (two / "server_audit.log").stat().st_size
    assert str(state["last_written"].dt.tz) == "UTC" and state["vanished_at"].notna().sum() == 1

    # and one row per part object, whose ranges tile the copied file
    mine = parts[parts["instance_id"] == "db-1"].sort_values("part")
    assert list(mine["part"]) == [1, 2]
    assert list(mine["source_start"]) == [0, int(mine["source_end"].iloc[0])]
    assert int(mine["source_bytes"].sum()) == size
    assert (mine["compressed_bytes"] < mine["source_bytes"]).all()
    assert set(mine["cluster_id"]) == {"db-1-cluster"} and set(mine["file_id"]) == {copied["file_id"]}

    # and the risk table sees db-2's lost file and its pending one
    risk = loss_risk_table(backup_state(lab.config), retention_hours=24).set_index("instance_id")
    assert risk.loc["db-2", "lost_files"] == 1 and risk.loc["db-2", "pending_files"] == 1
    assert risk.loc["db-1", "status"] == "nothing pending"


def test_audit_events_are_read_back_from_the_parts(lab: Lab, account: EmulatedAccount) -> None:
    # GIVEN a file backed up in two parts, with a failed login and a GRANT in it
    one = account.add_instance("db-1")
    write(one / "server_audit.log", 0, 2000, FAILED_LOGIN)
    lab.detect("db-1")
    lab.copy_all("db-1")
    write(one / "server_audit.log", 2000, 1000, GRANT)
    lab.detect("db-1")
    lab.copy_all("db-1")

    # WHEN the events are loaded from S3
    events = load_audit_events(lab.config)

    # THEN every line of the source is an event, with the instance it came from
    assert len(events) == 3002
    assert set(events["instance_id"]) == {"db-1"}
    assert sorted(events.loc[events["operation"] == "QUERY", "query_id"].dropna())[:3] == [0, 1, 2]
    assert list(failed_logins(events)["user"]) == ["app"]
    assert "GRANT SELECT ON shop.* TO 'app'@'%'" in set(events["object"])

    # and a byte budget stops on a line boundary: fewer events, none of them cut
    line_bytes = len(audit_line(0, SQL))
    few = load_audit_events(lab.config, max_bytes=100 * line_bytes + 5)
    assert 90 <= len(few) <= 100
    assert few["object"].str.fullmatch(r"SELECT c FROM t WHERE note = 'a,b' AND id=\d+").all()
    assert (few["retcode"] == 0).all()


def test_a_missing_table_says_what_to_do(account: EmulatedAccount) -> None:
    config = LabConfig(target="local", endpoint_url=account.url, project="never-deployed")
    with pytest.raises(BackupStoreError, match=r"never-deployed-log-files.*deploy the lab stack"):
        backup_state(config)
    with pytest.raises(BackupStoreError, match="never-deployed-backups"):
        backup_parts(config)
