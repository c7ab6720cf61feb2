"""Every request that writes a part's bytes to S3 carries a checksum (issue 18 item 5).

From boto3 1.36, UploadPart sends a CRC32 checksum by default, and real S3 has refused a
CompleteMultipartUpload that names no per-part checksums for parts that had them (botocore#3216,
aioboto3#363); a bucket with Object Lock default retention refuses any PUT without a checksum or Content-MD5.
moto ignores checksums, so these tests read the requests botocore really sends (the ``before-send`` event,
after checksums are added) rather than trusting a successful upload; the bytes in S3 are still compared with
the source bytes.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import os
import re
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from labkit.backup.layout import PartKey
from labkit.backup.manifest import write_manifests
from labkit.backup.s3parts import GzipPartWriter
from labkit.local.emulator import EmulatorServer

_buckets = itertools.count()
_PART = re.compile(rb"<Part>(.*?)</Part>", re.S)


def crc32(data: bytes) -> str:
    """S3's form of a CRC32 checksum: the big-endian 4 bytes, base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class Sent:
    """The S3 requests a client sent, as (operation, headers, body), recorded at ``before-send``."""

    def __init__(self, client: Any) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        client.meta.events.register("before-send.s3.*", self._record)

    def _record(self, request: Any, event_name: str, **_: Any) -> None:
        body = request.body
        if hasattr(body, "getvalue"):
            body = body.getvalue()
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        self.requests.append((event_name.rsplit(".", 1)[1], headers, bytes(body or b"")))

    def of(self, operation: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for op, h, b in self.requests if op == operation]


@pytest.fixture(
    params=["when_supported", "when_required"], ids=["sdk-default", "checksums-only-when-required"]
)
def target(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """botocore's S3 client on the emulator, with the SDK's default checksum setting and with the opt-out
    (``request_checksum_calculation="when_required"``, what AWS_REQUEST_CHECKSUM_CALCULATION sets): a part
    must carry its checksum whichever the Lambda's environment picks."""
    server = EmulatorServer(0)
    server.start()
    try:
        client = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("s3", endpoint_url=server.url, config=Config(request_checksum_calculation=request.param))
        bucket = f"lab-checksums-{next(_buckets)}"  # moto's state is the process's: one bucket per test
        client.create_bucket(Bucket=bucket)
        yield client, bucket
    finally:
        server.stop()


def sent_checksum(headers: dict[str, str]) -> str | None:
    return headers.get("x-amz-checksum-crc32")


def test_a_multipart_part_is_created_and_completed_with_every_parts_crc32(target: tuple[Any, str]) -> None:
    s3, bucket = target
    # GIVEN a part too big for one buffer: three S3 parts of a multipart upload
    sent = Sent(s3)
    data = os.urandom(12 * 1024 * 1024)  # incompressible
    writer = GzipPartWriter(s3, bucket, "audit-logs/x/part-00001.gz", 0, part_size=5 * 1024 * 1024)
    # WHEN it is written and closed
    for offset in range(0, len(data), 1024 * 1024):
        writer.write(data[offset : offset + 1024 * 1024])
    part = writer.close({"instance": "db-1"})
    # THEN the upload was created with ChecksumAlgorithm CRC32
    [(created, _)] = sent.of("CreateMultipartUpload")
    assert created.get("x-amz-checksum-algorithm") == "CRC32"
    # AND every UploadPart carried the CRC32 of its own bytes
    uploads = sent.of("UploadPart")
    assert len(uploads) == 3
    part_sums = [sent_checksum(h) for h, _ in uploads]
    assert part_sums == [crc32(body) for _, body in uploads]
    # AND CompleteMultipartUpload named each part with that checksum, in order
    [(_, completed)] = sent.of("CompleteMultipartUpload")
    listed = _PART.findall(completed)
    assert len(listed) == 3
    named = [re.search(rb"<ChecksumCRC32>([^<]+)</ChecksumCRC32>", p) for p in listed]
    assert all(named), completed.decode()
    assert [m.group(1).decode() for m in named if m] == part_sums
    # AND S3 holds the source bytes, and no upload is left open
    body = s3.get_object(Bucket=bucket, Key=part.key)["Body"].read()
    assert gzip.decompress(body) == data
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_small_part_is_one_put_with_its_crc32(target: tuple[Any, str]) -> None:
    s3, bucket = target
    # GIVEN a part small enough for one PutObject
    sent = Sent(s3)
    data = b"".join(b"20261126 15:29:21,vm,u,h,1,%d,QUERY,db,'SELECT 1',0\n" % i for i in range(1000))
    writer = GzipPartWriter(s3, bucket, "audit-logs/x/part-00002.gz", 0)
    # WHEN it is written and closed
    writer.write(data)
    part = writer.close({"instance": "db-1"})
    # THEN the one PutObject carried the checksum of its bytes (what Object Lock default retention demands)
    [(headers, body)] = sent.of("PutObject")
    assert sent_checksum(headers) == crc32(body)
    assert sent.of("CreateMultipartUpload") == []
    # AND S3 holds the source bytes
    assert gzip.decompress(s3.get_object(Bucket=bucket, Key=part.key)["Body"].read()) == data


def test_a_manifest_is_one_put_with_its_crc32(target: tuple[Any, str]) -> None:
    # GIVEN a closed day with one part (the archive's other PutObject: the manifest beside the parts)
    s3, bucket = target
    key = PartKey("audit-logs", "db-1-cluster", "db-1", "2025-03-01", "f1").key(1)
    writer = GzipPartWriter(s3, bucket, key, 0)
    writer.write(b"20261126 15:29:21,vm,u,h,1,1,QUERY,db,'SELECT 1',0\n")
    writer.close({"source-file": "f1", "source-last-written": "0", "instance": "db-1"})
    sent = Sent(s3)
    # WHEN the day's manifest is written
    outcome = write_manifests(s3, bucket, "audit-logs", "db-1", "2025-03-01")
    # THEN its PutObject carried the checksum of its bytes
    [(headers, body)] = sent.of("PutObject")
    assert outcome.written and sent_checksum(headers) == crc32(body)
