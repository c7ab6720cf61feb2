"""AWS clients for the handlers, made once per container from the function's environment.

On AWS the SDK's defaults apply; locally the lab's service sets AWS_ENDPOINT_URL so the same code talks to
the emulator. Standard retries with a generous attempt count absorb RDS throttling. The REST complete
download, which is no SDK call, gets its path version and timeouts from the same config.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from labkit.backup.rdslogs import CompleteDownload, configure_complete_download
from labkit.config import LabConfig, load_config

RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})


@cache
def config() -> LabConfig:
    lab = load_config()
    configure_complete_download(
        CompleteDownload(
            api_version=lab.rds_log_api_version,
            connect_timeout_s=lab.complete_connect_timeout_s,
            read_timeout_s=lab.complete_read_timeout_s,
        )
    )
    return lab


@cache
def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=config().region)


@cache
def client(service: str) -> Any:
    return session().client(service, config=RETRIES)


@cache
def table() -> Any:
    return session().resource("dynamodb", config=RETRIES).Table(config().names.table)
