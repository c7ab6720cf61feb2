"""The local lab end to end: real MariaDB audit files, real sysbench load, read back through the emulator
with boto3's raw calls, botocore's paginator and DownloadCompleteDBLogFile, byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from labkit import aws
from labkit.backup.rdslogs import download_complete_log_file, iter_portions, list_log_files
from labkit.config import LabConfig
from labkit.local import control
from labkit.local.service import master_password
from labkit.local.state import LabState
from tests.support.emulated import sha256

pytestmark = pytest.mark.e2e


def connect(lab: LabState, role: str) -> pymysql.Connection:
    inst = lab.role(role)
    return pymysql.connect(
        host=inst.host,
        port=inst.port,
        user="labadmin",
        password=master_password(Path(lab.state_dir)),
        database="labdb",
        autocommit=True,
    )


def sysbench(lab: LabState, role: str, command: str, *extra: str) -> subprocess.Popen[bytes]:
    inst = lab.role(role)
    options = Path(lab.state_dir) / "sysbench-test.cfg"  # the password stays out of `ps`
    if not options.exists():
        options.touch(mode=0o600)
        options.write_text(f"mysql-password={master_password(Path(lab.state_dir))}\n")
    args = [
        "sysbench",
        "oltp_read_only" if role == "reader" else "oltp_read_write",
        "--db-driver=mysql",
        f"--mysql-host={inst.host}",
        f"--mysql-port={inst.port}",
        "--mysql-user=labadmin",
        f"--config-file={options}",
        "--mysql-db=labdb",
        "--tables=2",
        "--table-size=2000",
        *extra,
        command,
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="class")
def under_load(lab: LabState) -> Iterator[None]:
    """sysbench on both instances (rate-limited) for the tests of one class; stopped after them."""
    for step in ("cleanup", "prepare"):  # other modules share this lab and may have left sbtest tables
        done = sysbench(lab, "writer", step)
        assert done.wait(120) == 0, done.stdout.read() if done.stdout else ""
    time.sleep(1)  # let the reader replicate the tables
    runs = [
        sysbench(lab, "writer", "run", "--time=600", "--rate=150", "--threads=2"),
        sysbench(lab, "reader", "run", "--time=600", "--rate=150", "--threads=1"),
    ]
    for role in ("writer", "reader"):  # at least one rotation on each, whatever sysbench's throughput
        rotate_once_traffic_shows(lab, role)
    try:
        yield
    finally:
        for run in runs:
            run.terminate()
            run.wait(30)


def rotate_once_traffic_shows(lab: LabState, role: str, timeout_s: float = 300) -> None:
    """Force a rotation once the active file has grown, then wait until the new one has grown too (a busy
    machine only makes this slower, never makes it fail)."""
    active = Path(lab.role(role).audit_dir) / "server_audit.log"

    def size_now() -> int:
        try:
            return active.stat().st_size
        except FileNotFoundError:  # between MariaDB's rename and its new file
            return 0

    def grows_from(size: int) -> None:
        deadline = time.monotonic() + timeout_s
        while size_now() <= size:
            assert time.monotonic() < deadline, f"no audit traffic on the {role} in {timeout_s} s"
            time.sleep(0.05)

    grows_from(size_now())
    connection = connect(lab, role)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET GLOBAL server_audit_file_rotate_now = ON")
    finally:
        connection.close()
    grows_from(0)


def disk_bytes_by_inode(audit_dir: str, inode: int) -> bytes:
    for entry in os.scandir(audit_dir):
        if entry.inode() == inode:
            return Path(entry.path).read_bytes()
    raise AssertionError(f"inode {inode} no longer on disk")


class TestUnderSysbenchLoad:
    """sysbench runs on both instances for these tests; later tests in this module run without load."""

    @pytest.mark.parametrize("role", ["writer", "reader"])
    @pytest.mark.parametrize("method", ["raw", "paginator", "complete"])
    def test_every_audit_file_is_reproduced_byte_for_byte_under_load(
        self, lab: LabState, lab_rds, lab_config: LabConfig, under_load: None, role: str, method: str
    ) -> None:
        inst = lab.role(role)
        credentials = aws.session(lab_config).get_credentials()
        files = list_log_files(lab_rds, inst.id)
        assert len(files) >= 2, f"expected rotations under load on {role}: {files}"
        checked = 0
        for listed in files:
            for _attempt in range(5):
                # the file's identity now: its inode, as the emulator maps the name
                identity = _identity_for(lab, inst.id, listed["LogFileName"])
                if identity is None:
                    break  # deleted by retention meanwhile
                inode, size_at_start = identity
                sealed_at_start = inode != (Path(inst.audit_dir) / "server_audit.log").stat().st_ino
                if method == "raw":
                    got = b"".join(p.data for p in iter_portions(lab_rds, inst.id, listed["LogFileName"]))
                elif method == "paginator":
                    pages = lab_rds.get_paginator("download_db_log_file_portion").paginate(
                        DBInstanceIdentifier=inst.id,
                        LogFileName=listed["LogFileName"],
                        PaginationConfig={"StartingToken": "0"},
                    )
                    got = b"".join(p["LogFileData"].encode() for p in pages)
                else:
                    got = b"".join(
                        download_complete_log_file(lab_rds, credentials, inst.id, listed["LogFileName"])
                    )
                after = _identity_for(lab, inst.id, listed["LogFileName"])
                renamed = after is None or after[0] != inode
                if inst.scheme == "aurora":
                    assert not renamed, "an aurora name must stay with its file for the file's whole life"
                elif renamed:
                    continue  # the name moved to another file mid-download (RDS for MySQL's rotation): retry
                disk = disk_bytes_by_inode(inst.audit_dir, inode)
                assert (
                    len(got) >= size_at_start
                )  # (in rds-mysql the name may mean another file than when listed)
                assert sha256(got) == sha256(disk[: len(got)]), (
                    f"{method} {listed['LogFileName']} differs from disk"
                )
                if sealed_at_start:
                    assert got == disk  # a file already sealed when the download began: the whole of it
                checked += 1
                break
        assert checked >= 2


def _identity_for(lab: LabState, instance_id: str, name: str) -> tuple[int, int] | None:
    """(inode, size) of the file the emulator lists under ``name`` right now."""
    with urllib.request.urlopen(f"{lab.endpoint}/labkit-api/logfiles") as response:
        files = json.load(response)[instance_id]
    return next(((f["inode"], f["size"]) for f in files if f["name"] == name), None)


def write_audit_bytes(lab: LabState, role: str, at_least: int) -> None:
    inst = lab.role(role)
    active = Path(inst.audit_dir) / "server_audit.log"
    conn = connect(lab, role)
    with conn.cursor() as cur:
        filler = "x" * 4000
        while active.stat().st_size < at_least:
            for _ in range(200):
                cur.execute(f"SELECT '{filler}'")
    conn.close()


@pytest.mark.parametrize("role", ["writer", "reader"])
def test_what_a_client_sees_when_a_file_rotates_while_paged(lab: LabState, lab_rds, role: str) -> None:
    # GIVEN no load, a quiet rotation, and an active file of more than 1 MB (rotate size is 1 MB; raise it)
    inst = lab.role(role)
    admin = connect(lab, role)
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL server_audit_file_rotate_size = 64 * 1024 * 1024")
        cur.execute("SET GLOBAL server_audit_file_rotate_now = ON")
    write_audit_bytes(lab, role, 1_500_000)
    name = next(f["LogFileName"] for f in reversed(list_log_files(lab_rds, inst.id)))
    old_inode = (Path(inst.audit_dir) / "server_audit.log").stat().st_ino
    # WHEN the client has paged the first megabyte, the file rotates, and new events arrive
    pages = iter_portions(lab_rds, inst.id, name)
    first = next(pages)
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL server_audit_file_rotate_now = ON")
        cur.execute("SELECT 'after rotation'")
    rest = b"".join(p.data for p in pages)
    admin.close()
    old = disk_bytes_by_inode(inst.audit_dir, old_inode)
    new = (Path(inst.audit_dir) / "server_audit.log").read_bytes()
    seen = first.data + rest
    if inst.scheme == "aurora":
        # THEN (aurora) the name stays with the file: the client reads the old file to its end
        assert name.startswith("audit/audit.log.")
        assert seen == old[: len(seen)] and len(seen) >= len(old) - 200_000
    else:
        # THEN (rds-mysql) the name now means the new file: the marker points into it, and the rest of the
        # old file (now server_audit.log.1) is never seen through this name
        assert name == "audit/server_audit.log"
        assert seen == first.data + new[len(first.data) :]
        assert seen != old and len(seen) < len(old)
    with connect(lab, role).cursor() as cur:
        cur.execute("SET GLOBAL server_audit_file_rotate_size = 1024 * 1024")


def test_status_json_lists_instances_and_audit_files(lab: LabState, lab_config: LabConfig) -> None:
    env = {**os.environ, **control.config_env(lab_config)}
    out = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "local", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info = json.loads(out)
    assert info["running"] and info["endpoint"] == lab.endpoint
    by_role = {i["role"]: i for i in info["instances"]}
    assert by_role["writer"]["scheme"] == "aurora" and by_role["reader"]["scheme"] == "rds-mysql"
    for inst in info["instances"]:
        assert inst["cluster"] == lab_config.cluster_id and inst["port"] > 0
        assert inst["audit_files"], inst
        for f in inst["audit_files"]:
            assert Path(f["path"]).exists() and f["size"] <= Path(f["path"]).stat().st_size


def test_up_is_idempotent_and_instances_are_registered_as_an_aurora_cluster(
    lab: LabState, lab_config: LabConfig, lab_rds
) -> None:
    again, started = control.up(lab_config)
    assert not started and again.pid == lab.pid
    cluster = lab_rds.describe_db_clusters(DBClusterIdentifier=lab_config.cluster_id)["DBClusters"][0]
    assert cluster["Engine"] == "aurora-mysql"
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert members == {lab_config.writer_id: True, lab_config.reader_id: False}
    ports = {
        i["DBInstanceIdentifier"]: i["Endpoint"]["Port"]
        for i in lab_rds.describe_db_instances()["DBInstances"]
    }
    assert ports == {i.id: i.port for i in lab.instances}
    # and the endpoint port really is the MariaDB server
    with connect(lab, "reader").cursor() as cur:
        cur.execute("SELECT @@port, @@read_only")
        assert cur.fetchone() == (lab.role("reader").port, 1)


def test_reader_replicates_the_writer(lab: LabState) -> None:
    with connect(lab, "writer").cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS repl_probe (id INT PRIMARY KEY)")
        cur.execute("REPLACE INTO repl_probe VALUES (42)")
    deadline = time.monotonic() + 10
    while True:
        with connect(lab, "reader").cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'repl_probe'")
            if cur.fetchone()[0] == 1:
                cur.execute("SELECT id FROM repl_probe")
                if cur.fetchone() == (42,):
                    return
        assert time.monotonic() < deadline, "reader did not replicate within 10 s"
        time.sleep(0.1)


def test_the_reader_refuses_writes_like_an_aurora_replica(lab: LabState) -> None:
    with connect(lab, "reader").cursor() as cur, pytest.raises(pymysql.err.OperationalError) as caught:
        cur.execute("CREATE TABLE reader_write_probe (id INT)")
    assert caught.value.args[0] == 1290  # ER_OPTION_PREVENTS_STATEMENT: --read-only
