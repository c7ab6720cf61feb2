"""AWS clients for the handlers, made once per container from the function's environment.

On AWS the SDK's defaults apply; locally the lab's service sets AWS_ENDPOINT_URL so the same code talks to
the emulator. Standard retries with a generous attempt count absorb RDS throttling. The REST complete
download, which is no SDK call, gets its path version and timeouts from the same config
(``complete_download``, handed to every call that downloads).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from labkit import aws
from labkit.backup.rdslogs import CompleteDownload
from labkit.config import LabConfig, load_config

RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})


@cache
def config() -> LabConfig:
    return load_config()


@cache
def complete_download() -> CompleteDownload:
    return aws.complete_download(config())


@cache
def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=config().region)


@cache
def client(service: str) -> Any:
    return session().client(service, config=RETRIES)


@cache
def table() -> Any:
    return session().resource("dynamodb", config=RETRIES).Table(config().names.table)


def forget() -> None:
    """Drop every cached client and setting: the next call reads the environment again (tests, restarts)."""
    for cached in (config, complete_download, session, client, table):
        cached.cache_clear()
