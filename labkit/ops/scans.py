"""``labkit scan``: run the DB Scanner now, as its schedule would, and optionally wait for the copies.

aws: a synchronous invoke of the scanner's ``live`` alias (its answer lists the instances it queued), then
the tracking table is polled until nothing is pending. local: the lab service's runtime is told to scan
(``runtime/tick``), or labkit.lab.catch_up scans and drains until a scan finds nothing new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.ops.backup import progress_row
from labkit.ops.prerequisites import require_aws

SCAN_POLL_S = 10.0
SCAN_SETTLE_S = 30.0  # on aws, detection starts through SQS: a table with nothing pending is not done yet


class ScanFailedError(LabkitError):
    """The DB Scanner could not be invoked, or it failed."""


@dataclass
class ScanResult:
    target: str
    queued: list[str] | None  # instances the scanner queued (aws: its answer; local: not reported)
    skipped: list[str] | None
    waited: bool
    rounds: int
    before: dict[str, Any]  # files per state and bytes backed up, from the tracking table
    after: dict[str, Any]
    pending_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "new_files": self.after["files"] - self.before["files"],
            "bytes_copied": self.after["bytes backed up"] - self.before["bytes backed up"],
        }


OnRound = Callable[[int, int, int], None]  # round, bytes backed up, bytes pending


def scan(
    config: LabConfig, *, wait: bool = False, timeout_s: float = 180.0, on_round: OnRound | None = None
) -> ScanResult:
    """Run the DB Scanner now; with ``wait``, until every byte the table knows of is in S3 (or timeout)."""
    from labkit.ops.lab import catch_up, pending_bytes, runtime_call

    def snapshot() -> dict[str, Any]:
        return progress_row(config, 0, 0.0)

    queued: list[str] | None = None
    skipped: list[str] | None = None
    rounds = 0
    if config.target == "aws":
        require_aws(config, "scan")
        before = snapshot()
        queued, skipped = _invoke_scanner(config)
        if wait:
            rounds = _wait_aws(config, timeout_s, on_round)
    else:
        from labkit.local.state import read_running_state

        endpoint = read_running_state(config).endpoint
        before = snapshot()
        errors = runtime_call(endpoint, "runtime")["scanner"]["errors"]
        if wait:
            rounds = catch_up(config, endpoint, timeout_s)  # scans, drains, scans again until nothing new
        else:
            runtime_call(endpoint, "runtime/tick", {}, timeout=config.scanner_timeout_s + 30)
        scanner = runtime_call(endpoint, "runtime")["scanner"]
        if scanner["errors"] > errors:
            raise ScanFailedError(f"the local DB Scanner failed: {scanner['last_error']}")
    return ScanResult(config.target, queued, skipped, wait, rounds, before, snapshot(), pending_bytes(config))


def _invoke_scanner(config: LabConfig) -> tuple[list[str], list[str]]:
    """A synchronous invoke of the scanner's ``live`` alias: its answer says which instances it queued."""
    names = config.names
    # one attempt (a retried scan would queue twice) and a read timeout longer than the scanner's own
    timeouts = BotoConfig(read_timeout=config.scanner_timeout_s + 30, retries={"max_attempts": 1})
    lam = aws.session(config).client("lambda", endpoint_url=aws.endpoint_url(config), config=timeouts)
    try:
        answer = lam.invoke(
            FunctionName=names.scanner, Qualifier=names.alias, InvocationType="RequestResponse"
        )
    except ClientError as exc:
        raise ScanFailedError(
            f"could not invoke {names.scanner}:{names.alias} ({exc}): deploy first (`labkit deploy --target aws`)"
        ) from exc
    body = answer["Payload"].read().decode(errors="replace")
    if answer.get("FunctionError"):
        raise ScanFailedError(
            f"{names.scanner}:{names.alias} failed: {body[:2000]} (its log: /aws/lambda/{names.scanner})"
        )
    try:
        result = json.loads(body)
    except ValueError:
        result = None
    if not isinstance(result, dict) or "sent" not in result:
        raise ScanFailedError(
            f"{names.scanner}:{names.alias} answered {body[:200]!r}, not the scanner's "
            '{"sent": [...], "skipped": [...]}: is the live alias on an image of this labkit?'
        )
    return list(result["sent"]), list(result.get("skipped", []))


def _wait_aws(config: LabConfig, timeout_s: float, on_round: OnRound | None) -> int:
    """Poll the tracking table until nothing is pending, after at least SCAN_SETTLE_S (detection is async)."""
    from labkit.ops.lab import PipelineNotCaughtUpError, pending_bytes

    started = time.monotonic()
    rounds = 0
    while True:
        rounds += 1
        time.sleep(SCAN_POLL_S)
        pending = pending_bytes(config)
        if on_round is not None:
            copied = progress_row(config, rounds, 0.0)["bytes backed up"]
            on_round(rounds, copied, pending)
        if pending == 0 and time.monotonic() - started >= SCAN_SETTLE_S:
            return rounds
        if time.monotonic() - started > timeout_s:
            raise PipelineNotCaughtUpError(
                f"{pending:,} bytes still to copy after {timeout_s:.0f}s: the downloader's log "
                f"(/aws/lambda/{config.names.downloader}) and `labkit alarms --target aws` say why"
            )
