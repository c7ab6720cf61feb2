"""The data and event resources of the stack in the emulator: KMS key, bucket, table (with its stream), the
RDS budget table, queues, the schedule; and their teardown. Functions: :mod:`labkit.local.deploy.functions`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from labkit import aws
from labkit.backup import rdsbudget
from labkit.backup.streamfilter import downloader_filter_criteria
from labkit.backup.table import TTL_ATTRIBUTE, table_definition
from labkit.config import LabConfig
from labkit.errors import DeployError
from labkit.local.deploy.clients import client, ignore
from labkit.local.deploy.functions import FunctionDeployment, deploy_functions
from labkit.resources import tls_only_policy


@dataclass(frozen=True)
class DeployedResources:
    """What :func:`deploy_local` created; identifiers the runtime and the notebooks need."""

    bucket: str
    table: str
    stream_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    stream_failures_url: str
    stream_failures_arn: str
    rule_arn: str
    kms_key_arn: str
    functions: dict[str, FunctionDeployment] = field(default_factory=dict)  # key: scanner|detector|downloader
    stream_mapping: dict[str, Any] = field(default_factory=dict)  # CreateEventSourceMapping arguments

    @property
    def function_arns(self) -> dict[str, str]:
        return {key: f.arn for key, f in self.functions.items()}

    @property
    def alias_arns(self) -> dict[str, str]:
        return {key: f.alias_arn for key, f in self.functions.items()}


def deploy_local(config: LabConfig) -> DeployedResources:
    """Create (or bring up to date) the application resources in the emulator; safe to run twice."""
    if config.target != "local":
        raise DeployError(
            f"deploy_local targets the emulator, not {config.target!r}: deploy to AWS with the Pulumi stack"
        )
    try:
        key_arn = _kms_key(config)
        _bucket(config, key_arn)
        table, stream_arn = _table(config)
        _budget_table(config)
        queues = _queues(config)
        functions = deploy_functions(config)
        rule_arn = _schedule(config, functions["scanner"])
    except ClientError as exc:
        raise DeployError(f"local deploy failed: {exc}") from exc
    except EndpointConnectionError as exc:
        raise DeployError(
            f"local deploy: no emulator at {exc}: start the lab with `labkit local up`"
        ) from exc
    return DeployedResources(
        bucket=config.names.bucket,
        table=table,
        stream_arn=stream_arn,
        queue_url=queues["queue"][0],
        queue_arn=queues["queue"][1],
        dlq_url=queues["dlq"][0],
        dlq_arn=queues["dlq"][1],
        stream_failures_url=queues["stream_failures"][0],
        stream_failures_arn=queues["stream_failures"][1],
        rule_arn=rule_arn,
        kms_key_arn=key_arn,
        functions=functions,
        stream_mapping=downloader_stream_mapping(
            config, stream_arn, functions["downloader"].alias_arn, queues["stream_failures"][1]
        ),
    )


def downloader_stream_mapping(
    config: LabConfig, stream_arn: str, function_arn: str, on_failure_arn: str
) -> dict[str, Any]:
    """The table stream -> downloader:live mapping, as CreateEventSourceMapping arguments: what the Pulumi
    stack declares, and what the local runtime applies (moto never gets it, see the module docstring).
    Its filter criteria pass only the detector's writes (and a copy's hand-over), so the downloader's own
    writes never wake it again."""
    return {
        "EventSourceArn": stream_arn,
        "FunctionName": function_arn,
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": config.stream_batch_size,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": config.stream_max_retries,
        "ParallelizationFactor": config.stream_parallelization_factor,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}},
        "FilterCriteria": downloader_filter_criteria(),
    }


# -- storage ------------------------------------------------------------------------------------------------
def _kms_key(config: LabConfig) -> str:
    kms = client("kms", config)
    alias = f"alias/{config.project}-backups"
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry["AliasName"] == alias and entry.get("TargetKeyId"):
                return str(kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(Description=f"{config.project}: SSE-KMS for the audit log backups")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def _bucket(config: LabConfig, key_arn: str) -> None:
    s3, bucket = client("s3", config), config.names.bucket
    ignore(lambda: s3.create_bucket(Bucket=bucket), "BucketAlreadyOwnedByYou")
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # No TLS-only bucket policy here, unlike the stack: moto 5.2.5 does not evaluate a Deny statement's
    # Condition (aws:SecureTransport) and denies every object request for `Principal: *`, and the emulator
    # speaks plain HTTP on loopback anyway. Queues keep theirs (moto does not enforce SQS policies).


def _table(config: LabConfig) -> tuple[str, str]:
    ddb, name = client("dynamodb", config), config.names.table
    try:
        ddb.create_table(**table_definition(name, config.stream_view_type))
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
    _with_ttl(ddb, name, TTL_ATTRIBUTE)
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    stream_arn = ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
    if not stream_arn:
        raise DeployError(f"table {name} exists without a stream: delete it (labkit local down) and redeploy")
    return name, str(stream_arn)


def _budget_table(config: LabConfig) -> None:
    """The pipeline's shared RDS request budget (labkit.backup.rdsbudget); its window items expire by TTL."""
    ddb, name = client("dynamodb", config), config.names.budget
    try:
        ddb.create_table(**rdsbudget.table_definition(name))
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
    _with_ttl(ddb, name, rdsbudget.TTL_ATTRIBUTE)


def _with_ttl(ddb: Any, name: str, attribute: str) -> None:
    """Wait for the table to exist, then make ``attribute`` its TTL (once: a second call changes nothing)."""
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )


def _queues(config: LabConfig) -> dict[str, tuple[str, str]]:
    """The instances queue with its DLQ, and the stream's on-failure queue: (url, arn) each."""
    names = config.names
    sse = {"SqsManagedSseEnabled": "true"}
    retention = {"MessageRetentionPeriod": str(14 * 24 * 3600)}
    dlq = _queue(config, names.dlq, {**sse, **retention})
    failures = _queue(config, names.stream_failures, {**sse, **retention})
    redrive = json.dumps({"deadLetterTargetArn": dlq[1], "maxReceiveCount": config.max_receive_count})
    queue = _queue(
        config,
        names.queue,
        {**sse, "VisibilityTimeout": str(config.sqs_visibility_timeout_s), "RedrivePolicy": redrive},
    )
    return {"queue": queue, "dlq": dlq, "stream_failures": failures}


def _queue(config: LabConfig, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    sqs = client("sqs", config)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if aws.error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # set every time: a queue made by an older deploy gets today's settings, as `pulumi up` would do
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={**attributes, "Policy": tls_only_policy([arn], "sqs:*")}
    )
    return url, arn


# -- schedule -----------------------------------------------------------------------------------------------
def _schedule(config: LabConfig, scanner: FunctionDeployment) -> str:
    events, rule = client("events", config), config.names.schedule_rule
    rule_arn = str(
        events.put_rule(
            Name=rule,
            ScheduleExpression=config.scan_schedule,
            State="ENABLED",
            Description=f"{config.project}: scan for Aurora MySQL instances to back up",
        )["RuleArn"]
    )
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "scanner-live",
                "Arn": scanner.alias_arn,
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            }
        ],
    )
    lam = client("lambda", config)
    ignore(
        lambda: lam.add_permission(
            FunctionName=scanner.name,
            Qualifier=config.names.alias,
            StatementId="scanner-from-schedule",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=rule_arn,
        ),
        "ResourceConflictException",
    )
    return rule_arn


# -- teardown -----------------------------------------------------------------------------------------------
def destroy_local(config: LabConfig) -> None:
    """Delete what :func:`deploy_local` made (the KMS key and its alias stay: AWS only schedules deletion)."""
    names = config.names
    events, lam, ecr = client("events", config), client("lambda", config), client("ecr", config)
    iam, sqs, ddb, s3 = (client(s, config) for s in ("iam", "sqs", "dynamodb", "s3"))
    gone = (
        "ResourceNotFoundException",
        "NoSuchEntity",
        "RepositoryNotFoundException",
        "NoSuchBucket",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    )
    ignore(partial(events.remove_targets, Rule=names.schedule_rule, Ids=["scanner-live"]), *gone)
    ignore(partial(events.delete_rule, Name=names.schedule_rule), *gone)
    for name in names.functions:
        ignore(partial(lam.delete_function, FunctionName=name), *gone)
        ignore(partial(ecr.delete_repository, repositoryName=name, force=True), *gone)
        ignore(partial(iam.delete_role_policy, RoleName=f"{name}-role", PolicyName="logs"), *gone)
        ignore(partial(iam.delete_role, RoleName=f"{name}-role"), *gone)
    for queue in (names.queue, names.dlq, names.stream_failures):
        ignore(partial(_delete_queue, sqs, queue), *gone)
    ignore(partial(ddb.delete_table, TableName=names.table), *gone)
    ignore(partial(ddb.delete_table, TableName=names.budget), *gone)
    ignore(partial(_empty_and_delete_bucket, s3, names.bucket), *gone)


def _delete_queue(sqs: Any, name: str) -> None:
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _empty_and_delete_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
