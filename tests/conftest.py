"""Shared fixtures. Tiers: unit (no network), functional (moto's real server over HTTP on loopback,
synthetic audit files), e2e (the real local lab: MariaDB with server_audit, sysbench), infra (Pulumi mocks),
notebooks. Each tier is a folder, and its tests carry the tier's marker (``pytest -m unit``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from labkit.local.emulator import EmulatorServer


def audit_line(i: int, sql: str = "SELECT c FROM sbtest1 WHERE id=?") -> bytes:
    """A line in MariaDB server_audit's format (what the local stand-in writes)."""
    return (
        f"20261126 15:29:21,vm,sbtest,127.0.0.1,13,{i},QUERY,sbtest,'{sql.replace('?', str(i))}',0\n".encode()
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EmulatedAccount:
    """An in-process emulator with helpers to create DB instances backed by a directory of audit files."""

    def __init__(self, server: EmulatorServer, tmp: Path) -> None:
        self.server = server
        self.url = server.url
        self.tmp = tmp
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        self.rds = self.session.client("rds", endpoint_url=self.url)

    def add_instance(self, instance_id: str, scheme: str = "aurora", engine: str = "aurora-mysql") -> Path:
        directory = self.tmp / instance_id / "audit"
        directory.mkdir(parents=True)
        placement: dict[str, str] = {"MasterUsername": "admin", "MasterUserPassword": "not-a-real-password-0"}
        if engine.startswith("aurora"):  # Aurora instances live in a cluster (moto insists, as AWS does)
            cluster = f"{instance_id}-cluster"
            self.rds.create_db_cluster(DBClusterIdentifier=cluster, Engine=engine, **placement)
            placement = {"DBClusterIdentifier": cluster}
        self.rds.create_db_instance(
            DBInstanceIdentifier=instance_id, Engine=engine, DBInstanceClass="db.r6g.large", **placement
        )
        self.server.app.register(instance_id, directory, scheme)
        return directory

    def client(self, service: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.session.client(service, endpoint_url=self.url, **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def account(tmp_path: Path) -> Iterator[EmulatedAccount]:
    from moto.backends import get_backend

    server = EmulatorServer(0)
    server.start()
    try:
        yield EmulatedAccount(server, tmp_path)
    finally:
        server.stop()
        get_backend("rds").reset()


TIERS = ("unit", "functional", "e2e", "infra", "notebooks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the first folder under tests/, so ``-m`` selects tiers."""
    root = Path(__file__).parent
    for item in items:
        try:
            tier = item.path.relative_to(root).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            zombie = (entry / "stat").read_text().split()[2] == "Z"
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            continue
        if text in cmdline and not zombie:
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests leave nothing running: no process started under this run's temporary directories survives."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    left = _processes_mentioning(str(factory.getbasetemp()))
    if left:
        print("\nprocesses left running by the tests:\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@contextlib.contextmanager
def emulated_s3(bucket: str) -> Iterator[object]:
    """An emulator over HTTP with one empty bucket, and botocore's S3 client for it; stopped on exit."""
    server = EmulatorServer(0)
    server.start()
    try:
        client = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("s3", endpoint_url=server.url)
        client.create_bucket(Bucket=bucket)
        yield client
    finally:
        server.stop()


def empty_bucket(s3: object, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # type: ignore[attr-defined]
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])  # type: ignore[attr-defined]
