"""boto3 clients from the lab config: the one place that picks endpoints and credentials."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from labkit.backup.rdslogs import CompleteDownload
from labkit.config import LabConfig

# The emulator accepts any credentials; these fixed ones keep a local lab away from a real account.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@functools.cache
def caller_account(endpoint_url: str | None, region: str) -> str:
    """The account of the caller's credentials (sts:GetCallerIdentity), asked once per endpoint and Region:
    the aws target's account when none is configured (LabConfig.account)."""
    retries = BotoConfig(retries={"mode": "standard"})
    sts = boto3.session.Session(region_name=region).client("sts", endpoint_url=endpoint_url, config=retries)
    return str(sts.get_caller_identity()["Account"])


def endpoint_url(config: LabConfig) -> str | None:
    """The endpoint every client talks to: None on AWS, the emulator on the local target."""
    if config.endpoint_url:
        return config.endpoint_url
    if config.target == "aws":
        return None
    from labkit.local.state import read_running_state

    return read_running_state(config).endpoint


def session(config: LabConfig) -> boto3.session.Session:
    if config.target == "local":
        return boto3.session.Session(region_name=config.region, **LOCAL_CREDENTIALS)
    return boto3.session.Session(region_name=config.region)


def client(service: str, config: LabConfig, *, max_attempts: int | None = None, **kwargs: Any) -> Any:
    """A boto3 client for ``service`` on the config's target.

    ``max_attempts`` sets botocore's standard retry mode (None keeps the default of the target).
    """
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    boto_config = BotoConfig(retries=retries)
    if "config" in kwargs:
        boto_config = boto_config.merge(kwargs.pop("config"))
    return session(config).client(service, endpoint_url=endpoint_url(config), config=boto_config, **kwargs)


def resource(service: str, config: LabConfig, **kwargs: Any) -> Any:
    """A boto3 resource for ``service`` on the config's target, with the same retry policy as client()."""
    boto_config = BotoConfig(retries={"mode": "standard"})
    if "config" in kwargs:
        boto_config = boto_config.merge(kwargs.pop("config"))
    return session(config).resource(service, endpoint_url=endpoint_url(config), config=boto_config, **kwargs)


def table(config: LabConfig) -> Any:
    """The tracking table (a boto3 DynamoDB Table) on the config's target."""
    return resource("dynamodb", config).Table(config.names.table)


def complete_download(config: LabConfig) -> CompleteDownload:
    """How DownloadCompleteDBLogFile (a signed GET, no SDK call) is reached: REST path version, timeouts."""
    return CompleteDownload(
        api_version=config.rds_log_api_version,
        connect_timeout_s=config.complete_connect_timeout_s,
        read_timeout_s=config.complete_read_timeout_s,
    )


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))
