"""IAM: one role per Lambda with only what its job needs, plus the test host's role.

The policy documents are plain functions of ARNs so tests can lint the exact JSON the stack deploys.
Resource "*" appears only where AWS offers nothing narrower (the list/describe calls named below).

Why one module past 400 lines: every role of the stack (the three functions', the test host's and the
auditor's) is one least-privilege review, read side by side; splitting it would hide what each grants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from labkit.backup.manifest import MANIFESTS
from labkit.backup.table import LIVE_INDEX

Statement = dict[str, Any]

# Actions AWS authorizes only against Resource "*" (no resource-level permissions for these calls).
STAR_ONLY_ACTIONS = frozenset(
    {
        "rds:DescribeDBInstances",  # the scanner lists every instance of the account and Region
        "dynamodb:ListStreams",
        "ec2:CreateNetworkInterface",  # the VPC-attached Lambda's ENIs, as in AWSLambdaVPCAccessExecutionRole
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
)


@dataclass(frozen=True)
class Scope:
    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    @property
    def db_instances(self) -> str:
        return self.arn("rds", "db:*")


def document(*statements: Statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str) -> str:
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def _allow(sid: str, actions: list[str], resources: str | list[str], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _runtime_statements(log_group_arn: str) -> list[Statement]:
    """Logging to the function's own log group, and the ENIs of a VPC-attached function."""
    return [
        _allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group_arn}:*"),
        _allow(
            "VpcNetworkInterfaces",
            sorted(a for a in STAR_ONLY_ACTIONS if a.startswith("ec2:")),
            "*",
        ),
    ]


def _spend_rds_budget(budget_table_arn: str) -> Statement:
    """Every RDS request first counts itself in the shared budget table (labkit.backup.rdsbudget)."""
    return _allow("SpendRdsBudget", ["dynamodb:UpdateItem"], budget_table_arn)


def scanner_policy(
    scope: Scope,
    *,
    queue_arn: str,
    table_arn: str,
    budget_table_arn: str,
    log_group_arn: str,
    bucket_arn: str,
    log_prefix: str,
    key_arn: str,
) -> str:
    return document(
        _allow("ListDbInstances", ["rds:DescribeDBInstances"], "*"),
        _spend_rds_budget(budget_table_arn),
        # instances that still have live tracked files (deleted or stopped ones too): their detector must run
        _allow("FindInstancesWithLiveFiles", ["dynamodb:Scan"], f"{table_arn}/index/{LIVE_INDEX}"),
        _allow("EnqueueInstances", ["sqs:SendMessage"], queue_arn),
        # the daily manifest run (labkit.backup.daily_manifests): list and read the parts and the manifests,
        # write new manifests only (never a part), through the bucket's KMS key
        _allow(
            "ListBackupsForManifests",
            ["s3:ListBucket"],
            bucket_arn,
            Condition={"StringLike": {"s3:prefix": [f"{log_prefix}/*", log_prefix]}},
        ),
        _allow("ReadBackupsForManifests", ["s3:GetObject"], f"{bucket_arn}/{log_prefix}/*"),
        _allow("WriteManifests", ["s3:PutObject"], f"{bucket_arn}/{log_prefix}/{MANIFESTS}/*"),
        _allow("ManifestsThroughTheBucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], key_arn),
        *_runtime_statements(log_group_arn),
    )


def detector_policy(
    scope: Scope, *, queue_arn: str, table_arn: str, budget_table_arn: str, log_group_arn: str
) -> str:
    return document(
        _spend_rds_budget(budget_table_arn),
        # a file's first line, which proves an rds-mysql rename instead of guessing it: a portion read, or
        # the complete download's first bytes when the portion API calls the file binary
        _allow(
            "ReadLogFiles",
            ["rds:DescribeDBLogFiles", "rds:DownloadDBLogFilePortion", "rds:DownloadCompleteDBLogFile"],
            scope.db_instances,
        ),
        # an RDS deletion event names only the instance: its engine and tags say whether and how to scan it
        _allow("DescribeEventInstance", ["rds:DescribeDBInstances"], scope.db_instances),
        _allow("TrackLogFiles", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], table_arn),
        _allow("ReadLiveFiles", ["dynamodb:Query"], f"{table_arn}/index/{LIVE_INDEX}"),
        _allow(
            "ConsumeInstanceQueue",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            queue_arn,
        ),
        *_runtime_statements(log_group_arn),
    )


def downloader_policy(
    scope: Scope,
    *,
    bucket_arn: str,
    log_prefix: str,
    key_arn: str,
    table_arn: str,
    budget_table_arn: str,
    failure_queue_arn: str,
    log_group_arn: str,
) -> str:
    return document(
        _spend_rds_budget(budget_table_arn),
        _allow(
            "DownloadLogFiles",
            # DescribeDBLogFiles: the downloader re-checks a file's current name and size before copying
            ["rds:DescribeDBLogFiles", "rds:DownloadDBLogFilePortion", "rds:DownloadCompleteDBLogFile"],
            scope.db_instances,
        ),
        _allow(
            "WriteBackups",
            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            f"{bucket_arn}/{log_prefix}/*",
        ),
        _allow(
            "ListBackups",
            ["s3:ListBucket"],
            bucket_arn,
            Condition={"StringLike": {"s3:prefix": [f"{log_prefix}/*", log_prefix]}},
        ),
        _allow("EncryptBackups", ["kms:GenerateDataKey", "kms:Decrypt"], key_arn),
        _allow(
            "ReadTableStream",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            # any stream of the table: a re-enabled stream gets a new ARN (and stream ARNs hold ':')
            f"{table_arn}/stream/*",
        ),
        _allow("ListTableStreams", ["dynamodb:ListStreams"], "*"),
        _allow("UpdateTracking", ["dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn),
        _allow("ReportStreamFailures", ["sqs:SendMessage"], failure_queue_arn),
        *_runtime_statements(log_group_arn),
    )


def test_host_policy(scope: Scope, *, ssm_prefix: str, master_secret_arn: str) -> str:
    """The lab scripts read endpoints from SSM and the master password from Secrets Manager."""
    return document(
        _allow(
            "ReadLabParameters",
            ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            [scope.arn("ssm", f"parameter{ssm_prefix}"), scope.arn("ssm", f"parameter{ssm_prefix}/*")],
        ),
        _allow(
            "ReadMasterPassword",
            ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            master_secret_arn,
        ),
    )


@dataclass(frozen=True)
class RolesArgs:
    project: str
    function_names: dict[str, str]  # key -> function name
    log_prefix: str
    scope: Scope
    queue_arn: pulumi.Input[str]
    failure_queue_arn: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    budget_table_arn: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    log_group_arns: dict[str, pulumi.Input[str]]


class PipelineRoles(pulumi.ComponentResource):
    """An execution role per function; ``policies`` lets functions wait until their grants exist."""

    roles: dict[str, aws.iam.Role]
    policies: dict[str, aws.iam.RolePolicy]

    def __init__(self, name: str, args: RolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:PipelineRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scope = args.scope
        documents: dict[str, pulumi.Output[str]] = {
            "scanner": pulumi.Output.all(
                args.queue_arn,
                args.table_arn,
                args.log_group_arns["scanner"],
                args.bucket_arn,
                args.key_arn,
                args.budget_table_arn,
            ).apply(
                lambda a: scanner_policy(
                    scope,
                    queue_arn=a[0],
                    table_arn=a[1],
                    budget_table_arn=a[5],
                    log_group_arn=a[2],
                    bucket_arn=a[3],
                    log_prefix=args.log_prefix,
                    key_arn=a[4],
                )
            ),
            "detector": pulumi.Output.all(
                args.queue_arn, args.table_arn, args.log_group_arns["detector"], args.budget_table_arn
            ).apply(
                lambda a: detector_policy(
                    scope, queue_arn=a[0], table_arn=a[1], budget_table_arn=a[3], log_group_arn=a[2]
                )
            ),
            "downloader": pulumi.Output.all(
                args.bucket_arn,
                args.key_arn,
                args.table_arn,
                args.failure_queue_arn,
                args.log_group_arns["downloader"],
                args.budget_table_arn,
            ).apply(
                lambda a: downloader_policy(
                    scope,
                    bucket_arn=a[0],
                    log_prefix=args.log_prefix,
                    key_arn=a[1],
                    table_arn=a[2],
                    budget_table_arn=a[5],
                    failure_queue_arn=a[3],
                    log_group_arn=a[4],
                )
            ),
        }
        self.roles, self.policies = {}, {}
        for key, function_name in args.function_names.items():
            role = aws.iam.Role(
                f"{key}-role",
                name=f"{function_name}-role",
                assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
                description=f"{args.project}: execution role of {function_name}",
                opts=child,
            )
            self.policies[key] = aws.iam.RolePolicy(
                f"{key}-policy", role=role.id, policy=documents[key], opts=child
            )
            self.roles[key] = role
        self.register_outputs({key: role.arn for key, role in self.roles.items()})


# --- the auditor: reads the archive through Athena, changes nothing ------------------------------------------
# Changing a backup in any way; denied outright, so no policy attached to the role later can grant it.
BACKUP_CHANGES = [
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging",
    "s3:BypassGovernanceRetention",
    "s3:RestoreObject",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:DeleteBucket",
]


def assume_role_in_account(scope: Scope) -> str:
    """Anyone in this account whose own policy allows sts:AssumeRole on the role (AWS's account trust)."""
    principal = {"AWS": f"arn:{scope.partition}:iam::{scope.account_id}:root"}
    return document({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


@dataclass(frozen=True)
class AuditorGrants:
    workgroup: str
    database: str
    table: str
    backup_bucket_arn: str
    log_prefix: str
    backup_key_arn: str
    results_bucket_arn: str
    results_prefix: str
    results_key_arn: str


def auditor_policy(scope: Scope, grants: AuditorGrants) -> str:
    """Query the archive in one workgroup: Glue read on one table, S3 read on the backup prefix, write
    only where the workgroup puts results; keys used only through S3."""
    g = grants
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{scope.region}.amazonaws.com"}}
    return document(
        _allow(
            "QueryInTheAuditWorkgroup",
            [
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetQueryRuntimeStatistics",
                "athena:BatchGetQueryExecution",
                "athena:ListQueryExecutions",
                "athena:GetWorkGroup",
                "athena:GetNamedQuery",
                "athena:BatchGetNamedQuery",
                "athena:ListNamedQueries",
            ],
            scope.arn("athena", f"workgroup/{g.workgroup}"),
        ),
        _allow(
            "ReadTheArchiveTable",
            ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
            [
                scope.arn("glue", "catalog"),
                scope.arn("glue", f"database/{g.database}"),
                scope.arn("glue", f"table/{g.database}/{g.table}"),
            ],
        ),
        _allow("ReadBackups", ["s3:GetObject"], f"{g.backup_bucket_arn}/{g.log_prefix}/*"),
        _allow(
            "ListBackups",
            ["s3:ListBucket"],
            g.backup_bucket_arn,
            Condition={"StringLike": {"s3:prefix": [f"{g.log_prefix}/*", g.log_prefix]}},
        ),
        _allow("LocateBuckets", ["s3:GetBucketLocation"], [g.backup_bucket_arn, g.results_bucket_arn]),
        _allow(
            "WriteQueryResults",
            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            f"{g.results_bucket_arn}/{g.results_prefix}/*",
        ),
        _allow(
            "ListQueryResults",
            ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            g.results_bucket_arn,
        ),
        _allow("DecryptBackups", ["kms:Decrypt"], g.backup_key_arn, Condition=via_s3),
        _allow(
            "EncryptQueryResults", ["kms:GenerateDataKey", "kms:Decrypt"], g.results_key_arn, Condition=via_s3
        ),
        {
            "Sid": "NeverChangeBackups",
            "Effect": "Deny",
            "Action": BACKUP_CHANGES,
            "Resource": [g.backup_bucket_arn, f"{g.backup_bucket_arn}/*"],
        },
    )


class AuditorRole(pulumi.ComponentResource):
    """A role people of this account assume to search the archive (their own policy must allow it)."""

    def __init__(
        self,
        name: str,
        project: str,
        scope: Scope,
        grants: pulumi.Input[AuditorGrants],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("labkit:lab:AuditorRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            "auditor-role",
            name=f"{project}-auditor",
            assume_role_policy=assume_role_in_account(scope),
            description=f"{project}: search the audit log archive with Athena; cannot change backups",
            max_session_duration=3600,
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            "auditor-policy",
            role=self.role.id,
            policy=pulumi.Output.from_input(grants).apply(lambda g: auditor_policy(scope, g)),
            opts=child,
        )
        self.register_outputs({"arn": self.role.arn})
