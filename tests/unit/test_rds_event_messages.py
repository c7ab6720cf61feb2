"""The detector's queue also carries RDS's deletion events, as SNS delivers them: parse_message turns one
into the instance's scan message (the scheme from a lookup), drops other events and unrelated sources
without failing, and sends malformed ones to the DLQ."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.backup import rdsevents
from labkit.backup.errors import BadInputError
from labkit.backup.messages import parse_message
from labkit.backup.scanner import InstanceMessage

TOPIC = "arn:aws:sns:eu-west-1:123456789012:lab-alarms"
KNOWN = InstanceMessage("lab-writer", "lab-cluster", "aurora-mysql", "rds-mysql")


def envelope(instance_id: str = "lab-writer", event_id: str = rdsevents.LOG_FILE_DELETED_RETENTION) -> str:
    event = rdsevents.rds_event(instance_id, event_id, "Log file deleted.", "eu-west-1", "123456789012")
    return rdsevents.sns_envelope(event, TOPIC)


class Resolver:
    def __init__(self, known: dict[str, InstanceMessage]) -> None:
        self.known, self.asked = known, []

    def __call__(self, instance_id: str) -> InstanceMessage | None:
        self.asked.append(instance_id)
        return self.known.get(instance_id)


@pytest.mark.parametrize("event_id", sorted(rdsevents.RECONCILING_EVENTS))
def test_a_deletion_event_of_a_known_instance_becomes_its_scan_message(event_id: str) -> None:
    # GIVEN an SNS-wrapped RDS deletion event for an instance the lab backs up
    resolve = Resolver({"lab-writer": KNOWN})
    # WHEN it is parsed  THEN it is that instance's message, scheme and all, as the lookup says
    assert parse_message(envelope(event_id=event_id), resolve) == KNOWN
    assert resolve.asked == ["lab-writer"]


def test_raw_message_delivery_is_accepted_too() -> None:
    event = rdsevents.rds_event("lab-writer", "RDS-EVENT-0611", "storage", "eu-west-1", "123456789012")
    assert parse_message(json.dumps(event), Resolver({"lab-writer": KNOWN})) == KNOWN


def test_an_unrelated_instance_is_dropped_not_failed() -> None:
    resolve = Resolver({})
    assert parse_message(envelope("someone-elses-db"), resolve) is None
    assert resolve.asked == ["someone-elses-db"]


def test_other_events_are_dropped_without_a_lookup() -> None:
    resolve = Resolver({"lab-writer": KNOWN})
    assert parse_message(envelope(event_id="RDS-EVENT-0006"), resolve) is None  # a reboot
    cluster_event = json.loads(envelope())
    inner = json.loads(cluster_event["Message"])
    inner["Event Source"] = "db-cluster"
    cluster_event["Message"] = json.dumps(inner)
    assert parse_message(json.dumps(cluster_event), resolve) is None
    assert resolve.asked == []


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Type": "Notification", "Message": "not json"}),
        json.dumps({"Type": "Notification", "Message": json.dumps(["a", "list"])}),
        json.dumps({"Type": "Notification", "Message": json.dumps({"Event Source": "db-instance"})}),
        json.dumps({"Event Source": "db-instance", "Source ID": "", "Event ID": "x#RDS-EVENT-0610"}),
        json.dumps({"Event Source": "db-instance", "Source ID": "../etc", "Event ID": "x#RDS-EVENT-0610"}),
    ],
)
def test_a_malformed_event_belongs_in_the_dlq(body: str) -> None:
    with pytest.raises(BadInputError):
        parse_message(body, Resolver({"lab-writer": KNOWN}))


def test_scanner_messages_parse_as_before() -> None:
    assert parse_message(KNOWN.body()) == KNOWN
    with pytest.raises(BadInputError):
        parse_message(json.dumps({"cluster_id": "x"}))


@settings(max_examples=40, deadline=None)
@given(
    instance_id=st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,40}", fullmatch=True),
    event_id=st.sampled_from(sorted(rdsevents.RECONCILING_EVENTS)),
    text=st.text(max_size=80),
)
def test_every_deletion_event_round_trips_to_its_instance(instance_id: str, event_id: str, text: str) -> None:
    message = InstanceMessage(instance_id, "", "aurora-mysql", "aurora")
    event = rdsevents.rds_event(instance_id, event_id, text, "us-east-1", "123456789012")
    assert parse_message(rdsevents.sns_envelope(event, TOPIC), Resolver({instance_id: message})) == message


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["Event Source", "Source ID", "Event ID", "x"]), st.text(max_size=20)))
def test_any_event_shaped_body_is_parsed_dropped_or_bad_input_never_a_crash(fields: dict[str, str]) -> None:
    body = json.dumps({"Type": "Notification", "Message": json.dumps(fields)})
    try:
        result = parse_message(body, Resolver({"lab-writer": KNOWN}))
    except BadInputError:
        return
    assert result in (None, KNOWN)
