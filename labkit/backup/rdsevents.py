"""RDS event notifications that tell the detector a file or an instance is gone, as SNS delivers them.

On AWS an RDS event subscription publishes to the alarm topic; the detector's queue is subscribed to it
(raw message delivery off), so an SQS body is SNS's envelope whose ``Message`` is RDS's event JSON. The
local emulator publishes the very same envelope when an audit file disappears, so both take one path.

RDS-EVENT-0610 (a log file deleted at the end of its retention) and RDS-EVENT-0611 (deleted because of
storage pressure) are documented in the Aurora guide "Planning storage for Aurora database log files";
RDS-EVENT-0003 is "The DB instance has been deleted" (category "deletion").

The subscription has no category filter: AWS's "Amazon RDS event categories and event messages for Aurora"
(USER_Events.Messages) files each instance event under a category, but nobody could confirm which one holds
0610/0611, and a wrong category would deliver nothing, silently (omitting EventCategories subscribes to all).
So every event of the lab's instances reaches the topic, and the event id is kept where it works whatever
RDS's message looks like: in the detector (``RdsEvent.reconciles``), not in an SNS filter policy, since the
"Event ID" is a documentation URL ending in ``#RDS-EVENT-0610`` whose form no document promises.
"""

from __future__ import annotations

import calendar
import json
import re
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
    at_ms: int = 0  # RDS's "Event Time" (0 when it is missing or unreadable)

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
        at_ms=_event_time_ms(event.get("Event Time")),
    )


def _event_time_ms(text: Any) -> int:
    """RDS's "Event Time" (``2026-12-07 10:00:00.123``, UTC) in epoch ms; 0 when unreadable."""
    if not isinstance(text, str):
        return 0
    whole, _, fraction = text.strip().partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return 0
    digits = (fraction.rstrip("Z")[:3] + "000")[:3]
    return seconds * 1000 + (int(digits) if digits.isdigit() else 0)


# A deleted file's name and size in a log-file event's message. RDS's own wording for RDS-EVENT-0610/0611 is
# not in the sources at hand (unconfirmed): the name is taken wherever an ``audit/...`` path appears and the
# size only from "(N bytes)"; an event with neither is still a reason to look now, and evidence of nothing.
_NAME = re.compile(r"(audit/[^\s()\[\]'\"]+)")
_SIZE = re.compile(r"\((\d[\d,]*) bytes\)")


@dataclass(frozen=True)
class DeletedFile:
    """What a log-file deletion event says: which file, its size when deleted (None: not said), when."""

    instance_id: str
    name: str
    size: int | None
    at_ms: int
    message_id: str = ""  # SNS's MessageId: one per published event, the same on every SQS redelivery

    @property
    def key(self) -> str:
        """The event's identity as evidence: a redelivered event is the same key, and two deletions alike in
        name, size and time (two files that held one name at one look) are two keys."""
        return f"{self.name}|{'' if self.size is None else self.size}|{self.at_ms}|{self.message_id}"


def log_file_deleted_message(name: str, size: int | None) -> str:
    """The emulator's wording of RDS-EVENT-0610 (the parser above reads it; RDS's own is unconfirmed);
    ``size``: the file's final size, None when it is not known."""
    said = "" if size is None else f" ({size} bytes)"
    return f"Log file {name} was deleted at the end of its retention{said}."


def deleted_file(event: RdsEvent, message_id: str = "") -> DeletedFile | None:
    """The file a log-file deletion event names, or None (another event, or no name in its message)."""
    if event.event_id not in (LOG_FILE_DELETED_RETENTION, LOG_FILE_DELETED_STORAGE):
        return None
    found = _NAME.search(event.message)
    if found is None:
        return None
    size = _SIZE.search(event.message)
    return DeletedFile(
        event.source_id,
        found.group(1).rstrip(".,;:"),
        int(size.group(1).replace(",", "")) if size else None,
        event.at_ms,
        message_id,
    )


def deleted_file_in(body: str) -> DeletedFile | None:
    """The deleted file an SQS body (an SNS-wrapped RDS event) names, or None for any other body."""
    try:
        raw = json.loads(body)
        if not is_rds_notification(raw):
            return None
        return deleted_file(unwrap(raw), str(raw.get("MessageId", "")))
    except (ValueError, MalformedEventError):
        return None


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
