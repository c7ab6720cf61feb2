"""The emulated AWS account the functional and e2e tests share: an in-process emulator with DB instances
backed by directories of audit files, one-bucket S3 over HTTP, its fault injection, and lines in server_audit's
format. Fixtures built on these live in tests/conftest.py; tests import the helpers from here."""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3

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


def set_faults(url: str, **faults: float) -> dict[str, float]:
    """Set the emulator's fault rates (``throttle_rate`` ...) through its control API; returns its answer."""
    request = urllib.request.Request(
        f"{url}/labkit-api/faults", data=json.dumps(faults).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)
