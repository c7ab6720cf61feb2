"""Local deploy: the application resources of the Pulumi stack, created in the emulator.

Names and pipeline settings come from :class:`~labkit.config.LabConfig` — the object the Pulumi program
reads too — so the local lab and the AWS stack cannot drift apart. Every step is idempotent: running the
deploy twice leaves the same resources (and the same published function versions) behind.

What moto cannot run is still registered, so the versioning lesson works locally: the three functions
(container images in ECR, a published version and a ``live`` alias each) exist in the emulator's Lambda
service, but nothing is ever invoked through moto — :mod:`labkit.local.runtime` drives the handlers
in-process instead. Event source mappings are deliberately NOT created in moto: moto's would drain the
table stream (it invokes on every write, enabled or not) and break SendMessage on the queue (REFERENCE.md,
moto notes). The stream mapping is still defined here (:func:`downloader_stream_mapping`, with the same
filter criteria as the stack) and returned in :class:`DeployedResources`: the local runtime applies it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from labkit import aws
from labkit.backup.streamfilter import downloader_filter_criteria
from labkit.backup.table import TTL_ATTRIBUTE, table_definition
from labkit.config import LabConfig
from labkit.errors import DeployError
from labkit.resources import tls_only_policy

IMAGE_TAG = "local"  # the tag the local deploy records in each ECR repository
DEFAULT_MEMORY_MB = 128  # Lambda's default, used where the stack sets no memory size

# A minimal image manifest: enough for ECR to record an image (and a digest) the function can point at.
_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 2,
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",  # of "{}"
    },
    "layers": [],
}


_LOGS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class FunctionDeployment:
    """One Lambda function as registered in the emulator."""

    name: str
    arn: str  # unqualified function ARN
    version: str  # the version the alias points at
    alias_arn: str  # <arn>:live — what every event source invokes
    image_uri: str
    role_arn: str
    timeout_s: int
    memory_mb: int


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


def function_names(config: LabConfig) -> dict[str, str]:
    names = config.names
    return {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}


def function_sizes(config: LabConfig) -> dict[str, tuple[int, int]]:
    """(timeout s, memory MB) per function, as the Pulumi stack sizes them."""
    return {
        "scanner": (config.scanner_timeout_s, DEFAULT_MEMORY_MB),
        "detector": (config.detector_timeout_s, DEFAULT_MEMORY_MB),
        "downloader": (config.downloader_timeout_s, config.downloader_memory_mb),
    }


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
        queues = _queues(config)
        functions = _functions(config)
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
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}},
        "FilterCriteria": downloader_filter_criteria(),
    }


# -- storage ------------------------------------------------------------------------------------------------
def _kms_key(config: LabConfig) -> str:
    kms = _client("kms", config)
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
    s3, bucket = _client("s3", config), config.names.bucket
    _ignore(lambda: s3.create_bucket(Bucket=bucket), "BucketAlreadyOwnedByYou")
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
    ddb, name = _client("dynamodb", config), config.names.table
    try:
        ddb.create_table(**table_definition(name, config.stream_view_type))
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    stream_arn = ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
    if not stream_arn:
        raise DeployError(f"table {name} exists without a stream: delete it (labkit local down) and redeploy")
    return name, str(stream_arn)


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
    sqs = _client("sqs", config)
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


# -- functions ----------------------------------------------------------------------------------------------
def _role(config: LabConfig, function_name: str) -> str:
    iam, role_name = _client("iam", config), f"{function_name}-role"
    try:
        return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchEntity":
            raise
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    # inline, not the AWS managed AWSLambdaBasicExecutionRole: moto does not load managed policies by default
    iam.put_role_policy(RoleName=role_name, PolicyName="logs", PolicyDocument=json.dumps(_LOGS_POLICY))
    return str(role["Arn"])


def _image(config: LabConfig, repository: str) -> str:
    """An ECR repository named like the function (as the ECR stack does) holding one recorded image."""
    ecr = _client("ecr", config)
    try:
        repo = ecr.create_repository(
            repositoryName=repository,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
        )["repository"]
    except ClientError as exc:
        if aws.error_code(exc) != "RepositoryAlreadyExistsException":
            raise
        repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    _ignore(
        lambda: ecr.put_image(
            repositoryName=repository, imageManifest=json.dumps(_MANIFEST), imageTag=IMAGE_TAG
        ),
        "ImageAlreadyExistsException",
    )
    return f"{repo['repositoryUri']}:{IMAGE_TAG}"


def _functions(config: LabConfig) -> dict[str, FunctionDeployment]:
    lam = _client("lambda", config)
    sizes = function_sizes(config)
    deployed: dict[str, FunctionDeployment] = {}
    for key, name in function_names(config).items():
        timeout, memory = sizes[key]
        role_arn = _role(config, name)
        image_uri = _image(config, name)
        settings: dict[str, Any] = {
            "Role": role_arn,
            "Timeout": timeout,
            "MemorySize": memory,
            "Environment": {"Variables": lambda_environment(config, key)},
        }
        try:
            # PackageType Image, as on AWS: moto registers it (and can never invoke it; nobody asks it to)
            created = lam.create_function(
                FunctionName=name,
                PackageType="Image",
                Code={"ImageUri": image_uri},
                Publish=True,
                Architectures=["x86_64"],
                **settings,
            )
            arn, version = str(created["FunctionArn"]), str(created["Version"])
        except ClientError as exc:
            if aws.error_code(exc) != "ResourceConflictException":
                raise
            arn, version = _update_function(lam, name, image_uri, settings)
        alias_arn = _alias(lam, name, config.names.alias, version)
        deployed[key] = FunctionDeployment(
            name=name,
            arn=_unqualified(arn),
            version=version,
            alias_arn=alias_arn,
            image_uri=image_uri,
            role_arn=role_arn,
            timeout_s=timeout,
            memory_mb=memory,
        )
    return deployed


def _update_function(lam: Any, name: str, image_uri: str, settings: dict[str, Any]) -> tuple[str, str]:
    """Bring an existing function up to date; publish a new version only when something changed."""
    current = lam.get_function_configuration(FunctionName=name)
    changed = False
    wanted_env = settings["Environment"]["Variables"]
    if (
        current.get("Role") != settings["Role"]
        or current.get("Timeout") != settings["Timeout"]
        or current.get("MemorySize") != settings["MemorySize"]
        or current.get("Environment", {}).get("Variables", {}) != wanted_env
    ):
        lam.update_function_configuration(FunctionName=name, **settings)
        changed = True
    code = lam.get_function(FunctionName=name).get("Code", {})
    if code.get("ImageUri") != image_uri:
        lam.update_function_code(FunctionName=name, ImageUri=image_uri)
        changed = True
    version = _latest_version(lam, name)
    if changed or version is None:
        version = str(lam.publish_version(FunctionName=name)["Version"])
    return str(current["FunctionArn"]), version


def _latest_version(lam: Any, name: str) -> str | None:
    numbers = [
        int(v["Version"])
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page["Versions"]
        if v["Version"].isdigit()
    ]
    return str(max(numbers)) if numbers else None


def _alias(lam: Any, function_name: str, alias: str, version: str) -> str:
    try:
        current = lam.get_alias(FunctionName=function_name, Name=alias)
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceNotFoundException":
            raise
        created = lam.create_alias(
            FunctionName=function_name,
            Name=alias,
            FunctionVersion=version,
            Description="what every event source invokes",
        )
        return str(created["AliasArn"])
    if current["FunctionVersion"] != version:
        lam.update_alias(FunctionName=function_name, Name=alias, FunctionVersion=version)
    return str(current["AliasArn"])


def lambda_environment(config: LabConfig, function_key: str) -> dict[str, str]:
    """The LABKIT_* variables the stack gives each function (documentation here: handlers run in-process)."""
    return {
        "LABKIT_TARGET": config.target,
        "LABKIT_PROJECT": config.project,
        "LABKIT_REGION": config.region,
        "LABKIT_ENGINES": config.engines,
        "LABKIT_OPT_OUT_TAG": config.opt_out_tag,
        "LABKIT_LOG_PREFIX": config.log_prefix,
        "LABKIT_TRACKING_TTL_DAYS": str(config.tracking_ttl_days),
        "POWERTOOLS_SERVICE_NAME": function_key,
        "POWERTOOLS_METRICS_NAMESPACE": config.project,
    }


# -- schedule -----------------------------------------------------------------------------------------------
def _schedule(config: LabConfig, scanner: FunctionDeployment) -> str:
    events, rule = _client("events", config), config.names.schedule_rule
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
    lam = _client("lambda", config)
    _ignore(
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
    events, lam, ecr = _client("events", config), _client("lambda", config), _client("ecr", config)
    iam, sqs, ddb, s3 = (_client(s, config) for s in ("iam", "sqs", "dynamodb", "s3"))
    gone = (
        "ResourceNotFoundException",
        "NoSuchEntity",
        "RepositoryNotFoundException",
        "NoSuchBucket",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    )
    _ignore(partial(events.remove_targets, Rule=names.schedule_rule, Ids=["scanner-live"]), *gone)
    _ignore(partial(events.delete_rule, Name=names.schedule_rule), *gone)
    for name in names.functions:
        _ignore(partial(lam.delete_function, FunctionName=name), *gone)
        _ignore(partial(ecr.delete_repository, repositoryName=name, force=True), *gone)
        _ignore(partial(iam.delete_role_policy, RoleName=f"{name}-role", PolicyName="logs"), *gone)
        _ignore(partial(iam.delete_role, RoleName=f"{name}-role"), *gone)
    for queue in (names.queue, names.dlq, names.stream_failures):
        _ignore(partial(_delete_queue, sqs, queue), *gone)
    _ignore(partial(ddb.delete_table, TableName=names.table), *gone)
    _ignore(partial(_empty_and_delete_bucket, s3, names.bucket), *gone)


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


# -- helpers ------------------------------------------------------------------------------------------------
def _client(service: str, config: LabConfig) -> Any:
    """Clients are reused across steps (making one loads its service model: ~0.1 s each)."""
    if not config.endpoint_url:  # the endpoint comes from the lab state and may change between calls
        return aws.client(service, config)
    return _cached_client(service, config)


@functools.lru_cache(maxsize=64)
def _cached_client(service: str, config: LabConfig) -> Any:
    return aws.client(service, config)


def _ignore(call: Callable[[], Any], *codes: str) -> None:
    try:
        call()
    except ClientError as exc:
        if aws.error_code(exc) not in codes:
            raise


def _unqualified(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> without the qualifier."""
    return ":".join(arn.split(":")[:7])


__all__ = [
    "DeployedResources",
    "FunctionDeployment",
    "deploy_local",
    "destroy_local",
    "downloader_stream_mapping",
]
