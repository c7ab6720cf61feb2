"""The backup pipeline's data: KMS key, S3 backup bucket, tracking table with its stream, queues.

Names and pipeline settings come from labkit's LabConfig, so the local target builds the same things.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from events import queue_send_statement
from settings import BackupRetention

from labkit.backup import rdsbudget
from labkit.backup.table import LIVE_INDEX, LIVE_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from labkit.config import LabConfig
from labkit.resources import tls_only_policy

MAX_SQS_RETENTION_S = 14 * 24 * 3600
MAX_KMS_DELETION_WINDOW_DAYS = 30  # KMS accepts 7-30 days between ScheduleKeyDeletion and the deletion


def kms_key(
    name: str,
    alias: str,
    description: str,
    opts: pulumi.ResourceOptions,
    deletion_window_in_days: int = 7,
    key_opts: pulumi.ResourceOptions | None = None,
) -> aws.kms.Key:
    """A customer-managed key with rotation on, and its alias (``key_opts`` merged for the key alone)."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=deletion_window_in_days,
        opts=pulumi.ResourceOptions.merge(opts, key_opts),
    )
    aws.kms.Alias(f"{name}-alias", name=alias, target_key_id=key.key_id, opts=opts)
    return key


def archive_options(parent: pulumi.Resource, lab_teardown: bool) -> pulumi.ResourceOptions:
    """What holds the backups (bucket, tracking table, backup key) is protected, so no config change can
    replace or delete it (Pulumi refuses to replace or delete a protected resource), and retained in AWS if it
    ever leaves the program. labTeardown, set deliberately before `labkit destroy --target aws`, lifts both."""
    return pulumi.ResourceOptions(parent=parent, protect=not lab_teardown, retain_on_delete=not lab_teardown)


def lock_down_bucket(
    name: str, bucket: aws.s3.Bucket, key: aws.kms.Key, parent: pulumi.Resource
) -> aws.s3.BucketPublicAccessBlock:
    """Owner-enforced, no public access, SSE-KMS with ``key`` by default, TLS only: every bucket of the lab.
    Returns the public access block (policies must wait for it)."""
    child = pulumi.ResourceOptions(parent=parent)
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key.arn,
                },
                "bucket_key_enabled": True,  # one KMS call per object batch, not per PUT
            }
        ],
        opts=child,
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(lambda arn: tls_only_policy([arn, f"{arn}/*"], "s3:*")),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return public_access


@dataclass(frozen=True)
class StorageArgs:
    lab: LabConfig
    retention: BackupRetention
    # settings.StackSettings.lab_teardown: unprotect the archive, empty the bucket on destroy
    lab_teardown: bool = False
    # the topic RDS's deletion events arrive on: the only sender allowed besides the scanner's role
    event_topic_arn: pulumi.Input[str] | None = None


class BackupStorage(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, names, retention = args.lab, args.lab.names, args.retention
        archive = archive_options(self, args.lab_teardown)

        # Without this key no backup can be read: protected like the bucket, and the longest deletion window
        self.key = kms_key(
            "backup-key",
            f"alias/{lab.project}-backups",
            f"{lab.project}: SSE-KMS for the audit log backups",
            child,
            deletion_window_in_days=MAX_KMS_DELETION_WINDOW_DAYS,
            key_opts=archive,
        )

        # No object_lock_enabled here: the provider replaces a bucket when it changes, so turning Object Lock
        # on later (objectLockDays 0 -> N, a retentionPreset) would replace the bucket under the same name.
        # S3 enables Object Lock on an existing versioned bucket instead: "You can enable Object Lock for new
        # or existing buckets" (Amazon S3 User Guide, "Configuring S3 Object Lock"; API:
        # PutObjectLockConfiguration), which is what BucketObjectLockConfiguration below calls, after
        # versioning. Once on, S3 cannot turn Object Lock off again (objectLockDays N -> 0 only drops the
        # default retention).
        lock = retention.object_lock_days > 0
        self.bucket = aws.s3.Bucket(
            "backups",
            bucket=names.bucket,
            force_destroy=args.lab_teardown,  # only an explicit teardown empties the archive on destroy
            opts=archive,
        )
        lock_down_bucket("backups", self.bucket, self.key, self)
        versioning = aws.s3.BucketVersioning(
            "backups-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        transitions = [{"days": retention.infrequent_access_days, "storage_class": "STANDARD_IA"}]
        if retention.glacier_ir_days:
            transitions.append({"days": retention.glacier_ir_days, "storage_class": retention.archive_class})
        rule: dict = {
            "id": "colder-storage-then-expiry",
            "status": "Enabled",
            "filter": {"prefix": f"{lab.log_prefix}/"},
            "transitions": transitions,
            "noncurrent_version_expiration": {"noncurrent_days": retention.noncurrent_expiration_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
        if retention.expiration_days:
            rule["expiration"] = {"days": retention.expiration_days}
        aws.s3.BucketLifecycleConfiguration(
            "backups-lifecycle",
            bucket=self.bucket.id,
            rules=[rule],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        if lock:
            aws.s3.BucketObjectLockConfiguration(
                "backups-object-lock",
                bucket=self.bucket.id,
                rule={
                    "default_retention": {
                        "mode": retention.object_lock_mode,
                        "days": retention.object_lock_days,
                    }
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )

        self.table = aws.dynamodb.Table(
            "log-files",
            name=names.table,
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[{"name": key, "type": "S"} for key in (PARTITION_KEY, SORT_KEY, LIVE_KEY)],
            global_secondary_indexes=[
                {"name": LIVE_INDEX, "hash_key": LIVE_KEY, "range_key": SORT_KEY, "projection_type": "ALL"}
            ],
            stream_enabled=True,
            stream_view_type=lab.stream_view_type,
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},  # KMS (AWS managed key for DynamoDB)
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            # what was copied and what was lost: DynamoDB refuses DeleteTable too, not only Pulumi
            deletion_protection_enabled=not args.lab_teardown,
            opts=archive,
        )

        # the pipeline's shared RDS request budget (labkit.backup.rdsbudget): one item per second, no stream
        self.budget_table = aws.dynamodb.Table(
            "rds-budget",
            name=names.budget,
            billing_mode="PAY_PER_REQUEST",
            hash_key=rdsbudget.KEY,
            attributes=[{"name": rdsbudget.KEY, "type": "S"}],
            server_side_encryption={"enabled": True},
            ttl={"attribute_name": rdsbudget.TTL_ATTRIBUTE, "enabled": True},
            opts=child,
        )

        self.dlq = aws.sqs.Queue(
            "instances-dlq",
            name=names.dlq,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=MAX_SQS_RETENTION_S,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            "instances",
            name=names.queue,
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=lab.sqs_visibility_timeout_s,
            redrive_policy=self.dlq.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": lab.max_receive_count})
            ),
            opts=child,
        )
        self.stream_failures = aws.sqs.Queue(
            "stream-failures",
            name=names.stream_failures,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=MAX_SQS_RETENTION_S,
            opts=child,
        )
        self.queue_policies: dict[str, aws.sqs.QueuePolicy] = {}
        for logical, queue in (
            ("instances", self.queue),
            ("instances-dlq", self.dlq),
            ("stream-failures", self.stream_failures),
        ):
            policy = queue.arn.apply(lambda arn: tls_only_policy([arn], "sqs:*"))
            if logical == "instances" and args.event_topic_arn is not None:
                # a queue has one policy: the SNS grant joins the TLS-only deny (name kept, so no replace)
                policy = pulumi.Output.all(queue.arn, args.event_topic_arn).apply(
                    lambda a: _with_statement(tls_only_policy([a[0]], "sqs:*"), queue_send_statement(*a))
                )
            self.queue_policies[logical] = aws.sqs.QueuePolicy(
                f"{logical}-tls-only", queue_url=queue.url, policy=policy, opts=child
            )
        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "keyArn": self.key.arn,
                "table": self.table.name,
                "streamArn": self.table.stream_arn,
                "queueUrl": self.queue.url,
            }
        )


def _with_statement(document: str, statement: dict) -> str:
    policy = json.loads(document)
    policy["Statement"].append(statement)
    return json.dumps(policy)
