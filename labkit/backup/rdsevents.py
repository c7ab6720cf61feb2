"""RDS event notifications that tell the detector a file or an instance is gone, as SNS delivers them.

On AWS an RDS event subscription publishes to the alarm topic; the detector's queue is subscribed to it
(raw message delivery off), so an SQS body is SNS's envelope whose ``Message`` is RDS's event JSON. The
local emulator publishes the very same envelope when an audit file disappears, so both take one path.

RDS-EVENT-0610 (a log file deleted at the end of its retention) and RDS-EVENT-0611 (deleted because of
storage pressure) are documented in the Aurora guide "Planning storage for Aurora database log files";
RDS-EVENT-0003 is "The DB instance has been deleted". The categories they are subscribed by are in
``EVENT_CATEGORIES`` (the two log events' category is unconfirmed: see there).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

LOG_FILE_DELETED_RETENTION = "RDS-EVENT-0610"
LOG_FILE_DELETED_STORAGE = "RDS-EVENT-0611"
INSTANCE_DELETED = "RDS-EVENT-0003"
# event id -> why the detector should look now
RECONCILING_EVENTS = {
    LOG_FILE_DELETED_RETENTION: "log file deleted (retention)",
    LOG_FILE_DELETED_STORAGE: "log file deleted (storage)",
    INSTANCE_DELETED: "DB instance deleted",
}
SOURCE_TYPE = "db-instance"  # what RDS's event JSON says in "Event Source" for an instance's events
# Categories of the subscription. "deletion" holds RDS-EVENT-0003 (documented). The category of 0610/0611
# is not in the sources at hand; "notification" is where RDS files instance events that are neither
# availability, failure nor maintenance (unconfirmed — check USER_Events.Messages before relying on it;
# the detector ignores every other event id, so a broader list costs only invocations).
EVENT_CATEGORIES = ("deletion", "notification")
EVENT_ID_DOCS = "http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html"


def alarm_topic_name(project: str) -> str:
    """The SNS topic the alarms and RDS's events publish to, and the detector's queue is subscribed to."""
    return f"{project}-alarms"


@dataclass(frozen=True)
class RdsEvent:
    source_type: str
    source_id: str
    event_id: str  # "RDS-EVENT-0610", taken from the end of RDS's "Event ID" URL
    message: str

    @property
    def reconciles(self) -> bool:
        return self.source_type == SOURCE_TYPE and self.event_id in RECONCILING_EVENTS


class MalformedEventError(ValueError):
    """An SNS envelope or RDS event without the fields RDS always sends."""


def is_rds_notification(raw: Any) -> bool:
    """An SNS envelope (raw delivery off) or RDS's event JSON itself (raw delivery on)."""
    return isinstance(raw, dict) and (
        (raw.get("Type") == "Notification" and "Message" in raw) or "Event Source" in raw
    )


def unwrap(raw: dict[str, Any]) -> RdsEvent:
    """The RDS event in an SNS envelope (or bare); MalformedEventError when a required field is missing."""
    event: Any = raw
    if raw.get("Type") == "Notification":
        try:
            event = json.loads(raw["Message"])
        except (TypeError, ValueError) as exc:
            raise MalformedEventError(f"SNS Message is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise MalformedEventError("the RDS event is not a JSON object")
    fields = {}
    for key in ("Event Source", "Source ID", "Event ID"):
        value = event.get(key)
        if not isinstance(value, str) or not value:
            raise MalformedEventError(f"RDS event without {key!r}")
        fields[key] = value
    return RdsEvent(
        source_type=fields["Event Source"],
        source_id=fields["Source ID"],
        event_id=fields["Event ID"].rsplit("#", 1)[-1],
        message=str(event.get("Event Message", "")),
    )


def rds_event(
    instance_id: str, event_id: str, message: str, region: str, account_id: str, now: float | None = None
) -> dict[str, Any]:
    """RDS's event JSON for a DB instance event, with the fields RDS sends to SNS."""
    now = time.time() if now is None else now
    return {
        "Event Source": SOURCE_TYPE,
        "Event Time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}",
        "Identifier Link": f"https://console.aws.amazon.com/rds/home?region={region}#dbinstance:id={instance_id}",
        "Source ID": instance_id,
        "Source ARN": f"arn:aws:rds:{region}:{account_id}:db:{instance_id}",
        "Event ID": f"{EVENT_ID_DOCS}#{event_id}",
        "Event Message": message,
    }


def sns_envelope(event: dict[str, Any], topic_arn: str, now: float | None = None) -> str:
    """The SQS body SNS delivers for one published message (raw message delivery off)."""
    now = time.time() if now is None else now
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Subject": "RDS Notification Message",
            "Message": json.dumps(event),
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}Z",
            "SignatureVersion": "1",
        }
    )
