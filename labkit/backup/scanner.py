"""DB Scanner: which instances have audit logs to back up, one SQS message each.

With a spread, each instance's message is delayed (SQS DelaySeconds) by an offset of its own within the
scan period, the same at every scan: the instances are looked at evenly over the period instead of all at
its top, so their RDS requests do not burst against the account's throttle, and each instance is still
looked at once a period.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

from labkit.backup import table as t

log = logging.getLogger(__name__)
OPT_OUT_VALUES = {"true", "yes", "1", "skip"}
MAX_DELAY_S = 900  # SQS's largest DelaySeconds


def spread_delay_s(instance_id: str, spread_s: float) -> int:
    """The instance's own delay in whole seconds, in [0, spread_s) (and SQS's 900 s): stable per instance,
    evenly spread over many instances (CRC-32 of the id)."""
    window = int(min(spread_s, MAX_DELAY_S))
    if window <= 1:
        return 0
    return zlib.crc32(instance_id.encode()) % window


@dataclass(frozen=True)
class InstanceMessage:
    instance_id: str
    cluster_id: str
    engine: str
    scheme: str  # aurora | rds-mysql: how the instance names its audit files

    def body(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


@dataclass
class ScanOutcome:
    sent: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # instance -> why
    failed: dict[str, str] = field(default_factory=dict)  # instance -> SQS error


def find_instances(
    rds: Any, engines: set[str], opt_out_tag: str, scheme_tag: str
) -> tuple[list[InstanceMessage], dict[str, str]]:
    """Available instances of the given engines, minus those tagged to opt out."""
    chosen, skipped = [], {}
    for page in rds.get_paginator("describe_db_instances").paginate():
        for db in page.get("DBInstances", []):
            instance_id, engine = db["DBInstanceIdentifier"], db.get("Engine", "")
            tags = {t["Key"]: t.get("Value", "") for t in db.get("TagList", [])}
            if engine not in engines:
                continue
            if db.get("DBInstanceStatus") != "available":
                skipped[instance_id] = f"status {db.get('DBInstanceStatus')}"
            elif tags.get(opt_out_tag, "").lower() in OPT_OUT_VALUES:
                skipped[instance_id] = f"opted out by tag {opt_out_tag}"
            else:
                scheme = tags.get(scheme_tag) or ("aurora" if engine.startswith("aurora") else "rds-mysql")
                chosen.append(InstanceMessage(instance_id, db.get("DBClusterIdentifier", ""), engine, scheme))
    return chosen, skipped


def send_messages(
    sqs: Any, queue_url: str, messages: list[InstanceMessage], attempts: int = 3, spread_s: float = 0.0
) -> dict[str, str]:
    """send_message_batch, 10 per call; failed entries are retried, then returned (instance -> error).
    ``spread_s``: each message is delayed by its instance's ``spread_delay_s``."""
    failed: dict[str, str] = {}
    for start in range(0, len(messages), 10):
        pending = {str(i): m for i, m in enumerate(messages[start : start + 10])}
        for _ in range(attempts):
            answer = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {
                        "Id": i,
                        "MessageBody": m.body(),
                        "DelaySeconds": spread_delay_s(m.instance_id, spread_s),
                    }
                    for i, m in pending.items()
                ],
            )
            errors = {e["Id"]: e for e in answer.get("Failed", [])}
            retry = {i: m for i, m in pending.items() if i in errors and not errors[i].get("SenderFault")}
            for i, error in errors.items():
                if error.get("SenderFault") or i not in retry:
                    failed[pending[i].instance_id] = f"{error.get('Code')}: {error.get('Message', '')}"
            pending = retry
            if not pending:
                break
        for m in pending.values():
            failed[m.instance_id] = "still failing after retries"
    return failed


def tracked_elsewhere(table: Any, listed: set[str]) -> list[InstanceMessage]:
    """Instances with live tracked files that DescribeDBInstances no longer shows (deleted, or gone from
    the engines scanned): their detector must still run, to record those files LOST instead of never."""
    found: dict[str, InstanceMessage] = {}
    kwargs: dict[str, Any] = {
        "IndexName": t.LIVE_INDEX,
        "ProjectionExpression": "pk, cluster_id, engine, scheme",
    }
    while True:
        page = table.scan(**kwargs)
        for item in page.get("Items", []):
            instance_id = str(item["pk"])
            if instance_id not in listed and instance_id not in found:
                cluster = str(item.get("cluster_id", ""))
                found[instance_id] = InstanceMessage(
                    instance_id,
                    "" if cluster == "none" else cluster,
                    str(item.get("engine", "")),
                    str(item.get("scheme", "aurora")),
                )
        if "LastEvaluatedKey" not in page:
            return list(found.values())
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan(
    rds: Any,
    sqs: Any,
    queue_url: str,
    engines: set[str],
    opt_out_tag: str,
    scheme_tag: str,
    table: Any = None,
    spread_s: float = 0.0,
) -> ScanOutcome:
    messages, skipped = find_instances(rds, engines, opt_out_tag, scheme_tag)
    if table is not None:
        # an opted-out instance stays out; a stopped or deleted one with live files is still scanned, so its
        # detector says so every time (not available: at risk; gone: LOST) instead of going quiet
        known = {m.instance_id for m in messages} | {
            i for i, why in skipped.items() if why.startswith("opted out")
        }
        tracked = tracked_elsewhere(table, known)
        for m in tracked:
            log.warning(
                "%s has live tracked files but is %s: queued so its detector settles them",
                m.instance_id,
                skipped.get(m.instance_id, "no longer listed"),
            )
        messages += tracked
    failed = send_messages(sqs, queue_url, messages, spread_s=spread_s)
    outcome = ScanOutcome([m.instance_id for m in messages if m.instance_id not in failed], skipped, failed)
    for instance_id, why in skipped.items():
        log.info("skipping %s: %s", instance_id, why)
    return outcome
