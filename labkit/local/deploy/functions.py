"""The three Lambda functions in the emulator's Lambda service: an ECR repository with one recorded image,
a role, the function (PackageType Image), a published version and the ``live`` alias each. Idempotent: a
version is published only when something changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.local.deploy.clients import client, ignore

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


def _role(config: LabConfig, function_name: str) -> str:
    iam, role_name = client("iam", config), f"{function_name}-role"
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
    ecr = client("ecr", config)
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
    ignore(
        lambda: ecr.put_image(
            repositoryName=repository, imageManifest=json.dumps(_MANIFEST), imageTag=IMAGE_TAG
        ),
        "ImageAlreadyExistsException",
    )
    return f"{repo['repositoryUri']}:{IMAGE_TAG}"


def deploy_functions(config: LabConfig) -> dict[str, FunctionDeployment]:
    lam = client("lambda", config)
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


def _unqualified(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> without the qualifier."""
    return ":".join(arn.split(":")[:7])
