"""The backup pipeline harness the functional and e2e tests share: the scanner, detector and downloader cores wired
to one emulated account (the stream read by hand, record by record), and readers of what S3 holds."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from labkit.backup import table as t
from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.errors import SourceChangedError
from labkit.backup.layout import PartKey, part_number
from labkit.backup.scanner import InstanceMessage
from labkit.backup.table import table_definition
from labkit.verify import reconcile
from tests.support.emulated import EmulatedAccount, audit_line

BUCKET, TABLE, PREFIX = "lab-backups", "lab-log-files", "audit-logs"


class Pipeline:
    """The three cores wired to one emulated account; the stream is read by hand, record by record."""

    def __init__(self, account: EmulatedAccount) -> None:
        self.account = account
        self.s3 = account.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        ddb = account.client("dynamodb")
        ddb.create_table(**table_definition(TABLE))
        self.table = account.session.resource("dynamodb", endpoint_url=account.url).Table(TABLE)
        self.sqs = account.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="lab-instances")["QueueUrl"]
        self.seq = 0

    def detect(self, instance_id: str, scheme: str = "aurora", seal_after_s: float = 0.0) -> Any:
        message = InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", scheme)
        return detect(
            self.account.rds,
            self.table,
            message,
            seal_after_s=seal_after_s,
            ttl_days=30,
            credentials=self.account.session.get_credentials(),
        )

    def downloader(self, **kwargs: Any) -> Downloader:
        """The lab's downloader; ``kwargs`` replace any of its settings (an RDS client that pages oddly...)."""
        settings: dict[str, Any] = {"rds": self.account.rds, "lease_ms": 60_000, **kwargs}
        return Downloader(
            s3=self.s3,
            table=self.table,
            credentials=self.account.session.get_credentials(),
            bucket=BUCKET,
            prefix=PREFIX,
            **settings,
        )

    def copy_all(self, instance_id: str, **kwargs: Any) -> list[Any]:
        """What the stream would trigger: one downloader call per item, until nothing is left to copy."""
        outcomes = []
        for _ in range(50):
            todo = [
                i
                for i in t.instance_items(self.table, instance_id)
                if i["copied_bytes"] < i["size"] and "vanished_at" not in i
            ]
            if not todo:
                break
            for item in todo:
                self.seq += 1
                outcomes.append(self.downloader(**kwargs).copy(item["pk"], item["sk"], str(self.seq)))
        for item in t.instance_items(self.table, instance_id):  # settle sealed files (state BACKED_UP)
            self.seq += 1
            self.downloader().copy(item["pk"], item["sk"], str(self.seq))
        return outcomes

    def reconcile(self) -> Any:
        return reconcile(
            self.table, self.s3, self.account.rds, self.account.session.get_credentials(), BUCKET, PREFIX
        )


def append(path: Path, first: int, count: int, sql: str = "SELECT ?") -> None:
    with open(path, "ab") as handle:
        handle.write(b"".join(audit_line(i, sql) for i in range(first, first + count)))


def stored(pipeline: Pipeline, item: dict[str, Any]) -> bytes:
    """Every byte S3 holds under an item's identity, parts in order."""
    prefix = PartKey(PREFIX, item["cluster_id"], item["pk"], item["date"], item["sk"]).file_prefix
    keys = sorted(
        o["Key"] for o in pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    )
    return b"".join(
        gzip.decompress(pipeline.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys
    )


def copy_sealed(pipeline: Pipeline, instance: str = "db-1") -> None:
    """What the stream would trigger: one copy per item with bytes to copy (rds-mysql copies sealed files)."""
    for item in t.instance_items(pipeline.table, instance):
        if item["copied_bytes"] < item["size"] and "vanished_at" not in item and item.get("sealed"):
            pipeline.seq += 1
            # rotated since the scan: the stream retries, the next scan says where it went
            with contextlib.suppress(SourceChangedError):
                pipeline.downloader().copy(item["pk"], item["sk"], str(pipeline.seq))


def s3_bytes(pipeline: Pipeline, instance_id: str) -> dict[str, bytes]:
    """Per file identity: its parts in S3, in part order, unzipped and joined."""
    parts: dict[str, list[tuple[int, bytes]]] = {}
    pages = pipeline.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
    for obj in (o for page in pages for o in page.get("Contents", [])):
        if f"/instance={instance_id}/" not in obj["Key"]:
            continue
        body = gzip.decompress(pipeline.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
        file_id = unquote(obj["Key"].rsplit("/", 1)[1].rsplit(".part-", 1)[0])
        parts.setdefault(file_id, []).append((part_number(obj["Key"]), body))
    return {k: b"".join(body for _, body in sorted(v)) for k, v in parts.items()}


def copy_until_done(pipeline: Pipeline, instance_id: str, downloader: Downloader | None = None) -> list[Any]:
    """One record per item at a time, while a copy moves bytes (what the stream would deliver)."""
    outcomes = []
    for item in t.instance_items(pipeline.table, instance_id):
        for _ in range(200):
            pipeline.seq += 1
            outcome = (downloader or pipeline.downloader()).copy(item["pk"], item["sk"], str(pipeline.seq))
            outcomes.append(outcome)
            if outcome.action != "copied":
                break
    return outcomes


def only_item(pipeline: Pipeline, instance_id: str = "db-1") -> dict[str, Any]:
    [item] = t.instance_items(pipeline.table, instance_id)
    return item
