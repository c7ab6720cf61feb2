"""The lab stack's RDS deletion events under Pulumi mocks: one event subscription on the lab's instances for
the categories holding the log-deletion and instance-deletion events, publishing to the encrypted alarm
topic (which lets RDS encrypt and publish, for these instances only), and the detector's queue subscribed
to that topic with SNS's envelope kept and alarm notifications filtered out, admitting only that topic."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from alarms_program import KEY, TOPIC, run
from policy_lint import blocking_findings, with_implicit_resource
from pulumi_harness import ACCOUNT, REGION, ProgramRun

from labkit.backup import rdsevents
from labkit.config import load_config
from labkit.resources import event_subscription_name

SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"


@pytest.fixture(scope="module")
def stack() -> ProgramRun:
    return run()


def statements(document: str, principal: str) -> list[dict[str, Any]]:
    return [s for s in json.loads(document)["Statement"] if s.get("Principal") == {"Service": principal}]


def test_the_event_subscription_covers_the_labs_instances_and_the_deletion_events(stack: ProgramRun) -> None:
    subscription = stack.one(SUBSCRIPTION, "log-deletions")
    lab = load_config(env={}, target="aws", region=REGION, account_id=ACCOUNT)
    assert subscription["sourceType"] == "db-instance"
    assert sorted(subscription["sourceIds"]) == sorted([lab.writer_id, lab.reader_id])
    # no category filter (issue 18 item 2): RDS-EVENT-0610/0611's category is unconfirmed, so every
    # category of these instances is subscribed and the detector keeps the deletion event ids
    assert not subscription.get("eventCategories")
    assert subscription["enabled"] is True
    assert subscription["snsTopic"] == stack.state[(TOPIC, "alarms")]["arn"]
    # the events the detector reconciles on are the ones the docs name
    assert set(rdsevents.RECONCILING_EVENTS) == {"RDS-EVENT-0610", "RDS-EVENT-0611", "RDS-EVENT-0003"}


def test_rds_may_encrypt_to_the_topic_and_publish_only_for_the_labs_instances(stack: ProgramRun) -> None:
    (key_grant,) = statements(stack.one(KEY, "alarms-key")["policy"], "events.rds.amazonaws.com")
    assert sorted(key_grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    topic_arn = stack.state[(TOPIC, "alarms")]["arn"]
    policy = stack.one("aws:sns/topicPolicy:TopicPolicy", "alarms-publish")["policy"]
    (publish,) = statements(policy, "events.rds.amazonaws.com")
    assert (publish["Effect"], publish["Action"], publish["Resource"]) == ("Allow", "sns:Publish", topic_arn)
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    patterns = publish["Condition"]["ArnLike"]["aws:SourceArn"]
    ids = stack.one(SUBSCRIPTION, "log-deletions")["sourceIds"]

    def allowed(arn: str) -> bool:
        return any(fnmatch.fnmatchcase(arn, p) for p in patterns)

    assert all(allowed(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{i}") for i in ids)
    assert not allowed(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:someone-elses-db")
    assert not allowed(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{ids[0]}-2")


def test_the_detector_queue_gets_the_envelope_of_rds_events_only(stack: ProgramRun) -> None:
    sub = stack.one(SNS_SUBSCRIPTION, "detector-rds-events")
    queue_arn = stack.state[("aws:sqs/queue:Queue", "instances")]["arn"]
    assert (sub["protocol"], sub["endpoint"], sub["topic"]) == (
        "sqs",
        queue_arn,
        stack.state[(TOPIC, "alarms")]["arn"],
    )
    assert sub["rawMessageDelivery"] is False  # the detector parses SNS's envelope, as locally
    assert sub["filterPolicyScope"] == "MessageBody"
    policy = json.loads(sub["filterPolicy"])
    # an RDS event passes the filter; a CloudWatch alarm notification (no "Event Source") does not
    event = rdsevents.rds_event("x", "RDS-EVENT-0610", "m", REGION, ACCOUNT)
    assert all(event.get(key) in values for key, values in policy.items())
    alarm = {"AlarmName": "lab-files-lost", "NewStateValue": "ALARM"}
    assert not all(alarm.get(key) in values for key, values in policy.items())


def test_only_the_alarm_topic_may_send_to_the_detector_queue(stack: ProgramRun) -> None:
    queue_arn = stack.state[("aws:sqs/queue:Queue", "instances")]["arn"]
    document = stack.one(QUEUE_POLICY, "instances-tls-only")["policy"]
    (send,) = statements(document, "sns.amazonaws.com")
    assert (send["Effect"], send["Action"], send["Resource"]) == ("Allow", "sqs:SendMessage", queue_arn)
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": stack.state[(TOPIC, "alarms")]["arn"]}}
    assert [s["Effect"] for s in json.loads(document)["Statement"]] == ["Deny", "Allow"]  # TLS-only kept
    for other in ("instances-dlq-tls-only", "stream-failures-tls-only"):
        assert not statements(stack.one(QUEUE_POLICY, other)["policy"], "sns.amazonaws.com")


def test_parliament_finds_nothing_in_the_changed_policies(stack: ProgramRun) -> None:
    documents = {
        "key policy": with_implicit_resource(stack.one(KEY, "alarms-key")["policy"], "unused"),
        "topic policy": with_implicit_resource(
            stack.one("aws:sns/topicPolicy:TopicPolicy", "alarms-publish")["policy"], "unused"
        ),
        "queue policy": with_implicit_resource(
            stack.one(QUEUE_POLICY, "instances-tls-only")["policy"], "unused"
        ),
    }
    assert {name: found for name, doc in documents.items() if (found := blocking_findings(doc))} == {}


def test_the_subscription_has_the_name_labkit_check_reads(stack: ProgramRun) -> None:
    # GIVEN the deployed subscription  THEN `labkit check` finds it under the one shared name
    lab = load_config(env={}, target="aws", region=REGION, account_id=ACCOUNT)
    assert stack.one(SUBSCRIPTION, "log-deletions")["name"] == event_subscription_name(lab.project)
    assert stack.outputs["rdsEventSubscription"] == event_subscription_name(lab.project)
