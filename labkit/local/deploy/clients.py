"""The clients and the error handling every local deploy step shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig


def client(service: str, config: LabConfig) -> Any:
    """Clients are reused across steps (making one loads its service model: ~0.1 s each)."""
    if not config.endpoint_url:  # the endpoint comes from the lab state and may change between calls
        return aws.client(service, config)
    return cached_client(service, config)


@functools.lru_cache(maxsize=64)
def cached_client(service: str, config: LabConfig) -> Any:
    return aws.client(service, config)


def ignore(call: Callable[[], Any], *codes: str) -> None:
    try:
        call()
    except ClientError as exc:
        if aws.error_code(exc) not in codes:
            raise
