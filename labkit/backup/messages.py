"""The detector's queue messages: a scanner's ``InstanceMessage``, or an RDS event (SNS-wrapped) that names an
instance, read into the message the scanner would have sent for it.

Malformed input is BadInputError (the detector's DLQ takes it); an event of another kind, or of an instance
this lab does not back up, is logged and dropped (None).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup import table as t
from labkit.backup.errors import BadInputError
from labkit.backup.layout import check_identifier
from labkit.backup.rdsevents import RECONCILING_EVENTS, MalformedEventError, is_rds_notification, unwrap
from labkit.backup.rdslogs import INSTANCE_GONE
from labkit.backup.scanner import OPT_OUT_VALUES, InstanceMessage

log = logging.getLogger("labkit.backup.detector")
SCHEMES = ("aurora", "rds-mysql")


def parse_message(
    body: str, resolve: Callable[[str], InstanceMessage | None] | None = None
) -> InstanceMessage | None:
    """A scanner message, or an RDS event (SNS-wrapped) saying a log file or the instance was deleted.

    An event names its instance but not how it names its files: ``resolve`` (instance id -> message, or
    None when the instance is none of ours) supplies that. None means "nothing to do": an event of another
    kind or of an unrelated source, logged and dropped. Malformed input is BadInputError (the DLQ's)."""
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise BadInputError(f"malformed message {body[:200]!r}: {exc}") from exc
    if is_rds_notification(raw):
        return _rds_event_message(raw, body, resolve)
    try:
        message = InstanceMessage(
            instance_id=check_identifier(raw["instance_id"], "instance id"),
            cluster_id=str(raw.get("cluster_id") or ""),
            engine=str(raw.get("engine") or ""),
            scheme=str(raw.get("scheme") or "aurora"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"malformed scanner message {body[:200]!r}: {exc}") from exc
    if message.cluster_id:
        check_identifier(message.cluster_id, "cluster id")
    if message.scheme not in SCHEMES:
        raise BadInputError(f"unknown naming scheme {message.scheme!r} in {body[:200]!r}")
    return message


def _rds_event_message(
    raw: dict[str, Any], body: str, resolve: Callable[[str], InstanceMessage | None] | None
) -> InstanceMessage | None:
    try:
        event = unwrap(raw)
    except MalformedEventError as exc:
        raise BadInputError(f"malformed RDS event {body[:200]!r}: {exc}") from exc
    if not event.reconciles:
        log.info(
            "RDS event %s of %s %s: not a deletion, dropped",
            event.event_id,
            event.source_type,
            event.source_id,
        )
        return None
    instance_id = check_identifier(event.source_id, "RDS event's Source ID")
    message = resolve(instance_id) if resolve else None
    if message is None:
        log.warning(
            "RDS event %s for %s, an instance this lab does not back up: dropped", event.event_id, instance_id
        )
        return None
    log.info(
        "RDS event %s (%s) for %s: reconciling now",
        event.event_id,
        RECONCILING_EVENTS[event.event_id],
        instance_id,
    )
    return message


def instance_for_event(
    rds: Any, table: Any, instance_id: str, engines: set[str], opt_out_tag: str, scheme_tag: str
) -> InstanceMessage | None:
    """What the scanner would send for this instance (its rules: engine, opt-out tag, scheme tag), or what
    its tracked files say when it is gone; None when it is none of ours. One DescribeDBInstances, or one
    index query."""
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=instance_id).get("DBInstances", [])
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in INSTANCE_GONE:
            raise
        found = []
    for db in found:
        tags = {tag["Key"]: tag.get("Value", "") for tag in db.get("TagList", [])}
        engine = db.get("Engine", "")
        if engine not in engines or tags.get(opt_out_tag, "").lower() in OPT_OUT_VALUES:
            return None
        scheme = tags.get(scheme_tag) or ("aurora" if engine.startswith("aurora") else "rds-mysql")
        return InstanceMessage(instance_id, db.get("DBClusterIdentifier", ""), engine, scheme)
    for item in t.live_items(table, instance_id)[:1]:  # deleted: its tracked files must still be settled
        cluster = str(item.get("cluster_id", ""))
        return InstanceMessage(
            instance_id,
            "" if cluster == "none" else cluster,
            str(item.get("engine", "")),
            str(item.get("scheme", "aurora")),
        )
    return None


__all__ = ["SCHEMES", "instance_for_event", "parse_message"]
