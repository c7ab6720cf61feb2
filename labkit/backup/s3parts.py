"""One backup part: source bytes streamed through gzip into S3, with memory bounded by one S3 part.

The sha256 and byte range of the *source* bytes are known only at the end, so a part small enough for one
buffer is sent with PutObject and its metadata; a larger one goes through a multipart upload and then gets
its metadata by an S3-side copy onto itself (no bytes pass through the function twice). Encryption is the
bucket's default (SSE-KMS with the stack's key): naming "aws:kms" here would pick the AWS-managed key instead.

Every write carries a CRC32 checksum (``CHECKSUM``), named on each call so that no client setting can drop it
(``request_checksum_calculation="when_required"``): "The Content-MD5 or x-amz-sdk-checksum-algorithm header is
required for any request to upload an object with a retention period configured using Amazon S3 Object Lock"
(S3 API reference, PutObject ``ChecksumAlgorithm``; a bucket default retention counts). From boto3 1.36 UploadPart
sends CRC32 anyway, and real S3 has refused a CompleteMultipartUpload that names no per-part checksums for
parts that had them (botocore#3216, aioboto3#363): the upload is created with the same algorithm and
completed with each part's checksum.

A part is never overwritten: it is created with ``If-None-Match: *``. When its key exists already, an earlier
attempt at the same part (one that died before its commit, or whose request reached S3 late) wrote it, and
:class:`PartExistsError` says so: the copier adopts that part (:func:`existing_part`) instead of replacing it,
so a late write can never put fewer bytes under a key than the table says it holds.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.manifest import digest_part

PART_SIZE = 8 * 1024 * 1024  # S3 multipart parts (minimum 5 MB but the last)
CHECKSUM = "CRC32"  # on every PutObject and UploadPart; the multipart upload is created with it too


@dataclass(frozen=True)
class WrittenPart:
    key: str
    source_start: int
    source_end: int
    sha256: str
    compressed_bytes: int


class PartExistsError(Exception):
    """The part's key holds an object already (an earlier attempt at this very part)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} exists already")
        self.key = key


def _crc32(data: bytes) -> str:
    """A CRC32 checksum as S3 writes it: the 4 big-endian bytes, base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _refused(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("PreconditionFailed", "412")


def existing_part(s3: Any, bucket: str, key: str) -> WrittenPart:
    """What an existing part holds, from its metadata; an attempt that died between completing a multipart
    upload and recording its metadata left only ``source-start``: the rest is counted from its bytes (and
    recorded, so it is counted once)."""
    head = s3.head_object(Bucket=bucket, Key=key)
    meta = head.get("Metadata", {})
    start = int(meta["source-start"])
    if "source-end" in meta and "source-sha256" in meta:
        return WrittenPart(key, start, int(meta["source-end"]), meta["source-sha256"], head["ContentLength"])
    digest = digest_part(s3, bucket, key)  # raises ValueError for a part that is not one whole gzip stream
    part = WrittenPart(key, start, start + digest.length, digest.sha256, head["ContentLength"])
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        Metadata={**meta, "source-sha256": part.sha256, "source-end": str(part.source_end)},
        MetadataDirective="REPLACE",
        ContentType="application/gzip",
        ChecksumAlgorithm=CHECKSUM,
    )
    return part


class GzipPartWriter:
    def __init__(self, s3: Any, bucket: str, key: str, source_start: int, part_size: int = PART_SIZE) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.source_start = source_start
        self.part_size = part_size
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
        self._sha = hashlib.sha256()
        self._source_bytes = 0
        self._compressed = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def source_bytes(self) -> int:
        return self._source_bytes

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._sha.update(data)
        self._source_bytes += len(data)
        self._buffer += self._gzip.compress(data)
        if len(self._buffer) >= self.part_size:
            self._flush_part()

    def close(self, metadata: dict[str, str]) -> WrittenPart:
        self._buffer += self._gzip.flush()
        part = WrittenPart(
            self.key,
            self.source_start,
            self.source_start + self._source_bytes,
            self._sha.hexdigest(),
            self._compressed + len(self._buffer),
        )
        meta = {
            **metadata,
            "source-sha256": part.sha256,
            "source-start": str(part.source_start),
            "source-end": str(part.source_end),
        }
        try:
            if self._upload_id is None:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=bytes(self._buffer),
                    Metadata=meta,
                    ContentType="application/gzip",
                    IfNoneMatch="*",
                    ChecksumAlgorithm=CHECKSUM,
                )
            else:
                self._flush_part()
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                    IfNoneMatch="*",
                )
        except ClientError as exc:
            if not _refused(exc):
                raise
            self.abort()
            raise PartExistsError(self.key) from exc
        if self._upload_id is not None:
            self._upload_id = None  # completed: nothing to abort
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=self.key,
                CopySource={"Bucket": self.bucket, "Key": self.key},
                Metadata=meta,
                MetadataDirective="REPLACE",
                ContentType="application/gzip",
                ChecksumAlgorithm=CHECKSUM,  # the whole object's CRC32, not the parts' composite one
            )
        self._buffer = bytearray()
        return part

    def abort(self) -> None:
        if self._upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                ContentType="application/gzip",
                Metadata={"source-start": str(self.source_start)},  # lets a later attempt adopt it
                ChecksumAlgorithm=CHECKSUM,
            )["UploadId"]
        number = len(self._parts) + 1
        body = bytes(self._buffer)
        answer = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=CHECKSUM,
        )
        # the checksum S3 computed for the part (what CompleteMultipartUpload must repeat); ours when an
        # emulator does not echo it (moto does; the two agree, or S3 would have refused the part: BadDigest)
        checksum = answer.get("ChecksumCRC32") or _crc32(body)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": checksum})
        self._compressed += len(self._buffer)
        self._buffer = bytearray()
