"""AWS clients for the handlers, made once per container from the function's environment.

On AWS the SDK's defaults apply; locally the lab's service sets AWS_ENDPOINT_URL so the same code talks to
the emulator. Standard retries with a generous attempt count absorb RDS throttling. The REST complete
download, which is no SDK call, gets its path version and timeouts from the same config
(``complete_download``, handed to every call that downloads). The RDS client spends the pipeline's shared
request budget (``budget``, :mod:`labkit.backup.rdsbudget`) on every request it sends, retries included.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from labkit import aws
from labkit.backup.looks import QuietBackoff
from labkit.backup.rdsbudget import RdsBudget, attached
from labkit.backup.rdslogs import CompleteDownload
from labkit.config import LabConfig, load_config

RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})
# boto3's sessions and resources are not thread-safe (its "Multithreading" guide); its low-level clients are.
# The downloader copies several files at once on threads: clients are made one at a time, and each thread
# gets its own Table resource.
_MAKING = threading.RLock()
_THREADS = threading.local()
_generation = [0]  # forget() moves it on: every thread's Table is made again


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
def _budget_dynamodb() -> Any:
    """One DynamoDB client (thread-safe) for the budget table, shared by the budget and the quiet looks."""
    with _MAKING:
        return session().client("dynamodb", config=RETRIES)


@cache
def budget() -> RdsBudget | None:
    """The pipeline's RDS budget, shared by this container's threads (None: the fast emulator has none)."""
    lab = config()
    per_s = lab.rds_budget_per_s
    if per_s is None:
        return None
    return RdsBudget(_budget_dynamodb(), lab.names.budget, per_s, max_wait_s=lab.rds_budget_wait_s)


@cache
def quiet_backoff() -> QuietBackoff | None:
    """How often quiet Aurora instances are looked at (None: every period, ``quiet_max_skip`` 0)."""
    lab = config()
    if lab.quiet_max_skip <= 0:
        return None
    return QuietBackoff(_budget_dynamodb(), lab.names.budget, lab.scan_period_s, lab.quiet_max_skip)


@cache
def client(service: str) -> Any:
    with _MAKING:
        made = session().client(service, config=RETRIES)
        return attached(budget(), made) if service == "rds" else made


def table() -> Any:
    """The tracking table, a boto3 Table of this thread's own (see _THREADS)."""
    made = getattr(_THREADS, "table", None)
    if made is None or made[0] != _generation[0]:
        with _MAKING:
            resource = session().resource("dynamodb", config=RETRIES)
        made = (_generation[0], resource.Table(config().names.table))
        _THREADS.table = made
    return made[1]


def forget() -> None:
    """Drop every cached client and setting: the next call reads the environment again (tests, restarts)."""
    for cached in (config, complete_download, session, _budget_dynamodb, budget, quiet_backoff, client):
        cached.cache_clear()
    _generation[0] += 1
