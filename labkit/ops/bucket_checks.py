"""The backup bucket's promises, read back from S3: SSE-KMS by default, every public access blocked, a
TLS-only bucket policy, and Object Lock as the stack configured it (``labkit check``, labkit.ops.check).

Each function returns one :class:`labkit.ops.check.CheckResult`; an S3 error is a FAIL that names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.ops.check_result import CheckResult
from labkit.resources import tls_only_policy

PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
REDEPLOY = "run `labkit deploy --target aws` (the lab stack sets it)"


@dataclass(frozen=True)
class LockSettings:
    """Object Lock's default retention as the stack configured it (objectLockDays, objectLockMode)."""

    days: int
    mode: str | None  # None when days is 0: no default retention

    @classmethod
    def from_output(cls, output: Any) -> LockSettings:
        """The lab stack's ``objectLock`` output: ``{"days": N, "mode": "GOVERNANCE" | None}``."""
        days = int(output["days"])
        return cls(days, str(output["mode"]) if days and output.get("mode") else None)


def bucket_checks(config: LabConfig, expected_lock: LockSettings | None) -> list[CheckResult]:
    s3, bucket = aws.client("s3", config), config.names.bucket
    return [
        _guarded("bucket encryption", lambda: _encryption(s3, bucket)),
        _guarded("bucket public access", lambda: _public_access(s3, bucket)),
        _guarded("bucket TLS only", lambda: _tls_only(s3, bucket)),
        _guarded("bucket object lock", lambda: _object_lock(s3, bucket, expected_lock)),
    ]


def _guarded(name: str, check: Any) -> CheckResult:
    try:
        result: CheckResult = check()
        return result
    except ClientError as exc:
        return CheckResult.failed(name, f"S3 answered {aws.error_code(exc)}: {exc}", REDEPLOY)


def _encryption(s3: Any, bucket: str) -> CheckResult:
    name = "bucket encryption"
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if aws.error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        rules = []
    defaults = [r.get("ApplyServerSideEncryptionByDefault", {}) for r in rules]
    kms = [d for d in defaults if d.get("SSEAlgorithm") == "aws:kms" and d.get("KMSMasterKeyID")]
    if kms:
        return CheckResult.passed(name, f"SSE-KMS by default with {kms[0]['KMSMasterKeyID']}")
    seen = ", ".join(d.get("SSEAlgorithm", "?") for d in defaults) or "none"
    return CheckResult.failed(
        name, f"default encryption is {seen}, not SSE-KMS with the backup key", REDEPLOY
    )


def _public_access(s3: Any, bucket: str) -> CheckResult:
    name = "bucket public access"
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        block = {}
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.get(flag) is not True]
    if not off:
        return CheckResult.passed(name, "all four public-access blocks on")
    return CheckResult.failed(name, f"public-access block off: {', '.join(off)}", REDEPLOY)


def _tls_only(s3: Any, bucket: str) -> CheckResult:
    name = "bucket TLS only"
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchBucketPolicy":
            raise
        return CheckResult.failed(name, "the bucket has no policy", REDEPLOY)
    arn = f"arn:aws:s3:::{bucket}"
    [wanted] = json.loads(tls_only_policy([arn, f"{arn}/*"], "s3:*"))["Statement"]
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if any(_same_statement(s, wanted) for s in statements):
        return CheckResult.passed(name, "denies every request without TLS (aws:SecureTransport false)")
    return CheckResult.failed(
        name, "no statement denies s3:* on the bucket and its objects without TLS", REDEPLOY
    )


def _same_statement(statement: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """The same Deny as labkit.resources.tls_only_policy, whatever form S3 hands it back in (lists or
    single values, ``"*"`` or ``{"AWS": "*"}``, any Sid)."""

    def values(value: Any) -> set[str]:
        return {str(v).lower() for v in (value if isinstance(value, list) else [value])}

    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("AWS")
    condition = statement.get("Condition", {}).get("Bool", {})
    return (
        statement.get("Effect") == "Deny"
        and values(principal) == {"*"}
        and values(statement.get("Action")) == values(wanted["Action"])
        and values(statement.get("Resource")) >= values(wanted["Resource"])
        and values(condition.get("aws:SecureTransport")) == {"false"}
    )


def _object_lock(s3: Any, bucket: str, expected: LockSettings | None) -> CheckResult:
    name = "bucket object lock"
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if aws.error_code(exc) != "ObjectLockConfigurationNotFoundError":
            raise
        lock = {}
    retention = lock.get("Rule", {}).get("DefaultRetention", {})
    days = int(retention.get("Days") or 0) + 365 * int(retention.get("Years") or 0)
    found = LockSettings(days, retention.get("Mode")) if days else LockSettings(0, None)
    shown = f"{found.mode} for {found.days} days" if found.days else "no default retention"
    if expected is None:
        return CheckResult.failed(
            name,
            f"the bucket has {shown}, and what the stack configured is unknown",
            "install pulumi (the lab stack's objectLock output says it) or pass --object-lock-days "
            "and --object-lock-mode",
        )
    if expected.days and lock.get("ObjectLockEnabled") != "Enabled":
        return CheckResult.failed(name, "Object Lock is not enabled on the bucket", REDEPLOY)
    if found == expected:
        return CheckResult.passed(name, f"{shown}, as configured")
    wanted = f"{expected.mode} for {expected.days} days" if expected.days else "no default retention"
    return CheckResult.failed(name, f"the bucket has {shown}; the stack configures {wanted}", REDEPLOY)
