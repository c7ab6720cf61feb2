"""RDS's deletion events: to whoever watches the alarm topic, and to the detector, which reconciles at once.

One RDS event subscription (the lab's instances, every category: the category of RDS-EVENT-0610/0611
"log file deleted" is unconfirmed, see labkit.backup.rdsevents; RDS-EVENT-0003 "instance deleted" is in
"deletion") publishes to the alarm topic. The detector's queue is subscribed to that topic:

- raw message delivery OFF: the queue gets SNS's envelope (TopicArn, Timestamp, and RDS's event JSON in
  ``Message``), the one shape the detector parses and the local emulator sends too;
- a filter policy on the message body (``"Event Source": ["db-instance"]``) keeps the alarms' own
  notifications (CloudWatch's JSON has no such key) out of the detector's queue; the detector drops any
  instance event whose id is not 0610, 0611 or 0003 (the id is matched there, not in the filter policy,
  because the form of RDS's "Event ID" value is not documented), so every category costs only invocations.

The grants that go with it live where the policies are: the topic key and topic policy (alarms.py: RDS may
encrypt to the topic's key, and publish on the topic for the lab's instances only) and the queue policy (storage.py: only
this topic may send, ``aws:SourceArn`` equal to it).

Also here, the other event that starts work: a daily EventBridge rule that invokes the scanner's ``live``
alias with the constant input ``{"action": "manifest"}``, so the scanner writes the tamper-evident manifests
of the previous and the current day (labkit.backup.daily_manifests; its S3 grants are in iam.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from labkit.backup import rdsevents
from labkit.backup.daily_manifests import SCHEDULE, manifest_event
from labkit.config import LabConfig
from labkit.resources import event_subscription_name

RDS_EVENTS = "events.rds.amazonaws.com"
SNS = "sns.amazonaws.com"
DETECTOR_FILTER = {"Event Source": [rdsevents.SOURCE_TYPE]}


@dataclass(frozen=True)
class EventsArgs:
    lab: LabConfig
    topic_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    instance_ids: Sequence[pulumi.Input[str]]  # the lab's instances (outputs: created before subscribing)
    queue_policy: pulumi.Resource  # the queue must let the topic send before SNS delivers anything


def topic_publish_statement(instance_arns: Sequence[str], account_id: str, topic_arn: str) -> dict[str, Any]:
    """RDS publishes events of these instances only (the confused-deputy guard RDS's docs show)."""
    return {
        "Sid": "RdsEventsOfThisLabsInstances",
        "Effect": "Allow",
        "Principal": {"Service": RDS_EVENTS},
        "Action": "sns:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": list(instance_arns)},
        },
    }


def queue_send_statement(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """Only the alarm topic may send to the detector's queue (SNS's delivery of RDS's events)."""
    return {
        "Sid": "RdsEventsFromTheAlarmTopic",
        "Effect": "Allow",
        "Principal": {"Service": SNS},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }


class RdsDeletionEvents(pulumi.ComponentResource):
    def __init__(self, name: str, args: EventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:RdsDeletionEvents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.lab
        self.subscription = aws.rds.EventSubscription(
            "log-deletions",
            name=event_subscription_name(lab.project),
            sns_topic=args.topic_arn,
            source_type=rdsevents.SOURCE_TYPE,
            source_ids=list(args.instance_ids),
            # no event_categories: all of them (the detector keeps the deletion event ids)
            enabled=True,
            opts=child,
        )
        self.detector_subscription = aws.sns.TopicSubscription(
            "detector-rds-events",
            topic=args.topic_arn,
            protocol="sqs",
            endpoint=args.queue_arn,
            raw_message_delivery=False,
            filter_policy=json.dumps(DETECTOR_FILTER),
            filter_policy_scope="MessageBody",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.queue_policy]),
        )
        self.register_outputs({"subscriptionName": self.subscription.name})


@dataclass(frozen=True)
class ManifestScheduleArgs:
    lab: LabConfig
    function_name: pulumi.Input[str]  # the scanner
    alias: aws.lambda_.Alias  # its live alias: what every event source invokes


class DailyManifests(pulumi.ComponentResource):
    """Once a day: scanner:live with ``{"action": "manifest"}`` (EventBridge passes a constant input as is)."""

    def __init__(
        self, name: str, args: ManifestScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("labkit:lab:DailyManifests", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.lab
        self.rule = aws.cloudwatch.EventRule(
            "manifest-schedule",
            name=f"{lab.project}-manifest-schedule",
            schedule_expression=SCHEDULE,
            description=f"{lab.project}: write yesterday's and today's backup manifests",
            opts=child,
        )
        aws.lambda_.Permission(
            "scanner-from-manifest-schedule",
            action="lambda:InvokeFunction",
            function=args.function_name,
            qualifier=args.alias.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            "manifest-schedule-target",
            rule=self.rule.name,
            arn=args.alias.arn,
            input=json.dumps(manifest_event()),
            # EventBridge retries a delivery it could not make (throttled, alias briefly missing) for hours:
            # a run missed for good leaves its day to the next run only while that day is still "yesterday".
            # A function error is retried by Lambda's asynchronous invocation (twice by default).
            retry_policy={"maximum_retry_attempts": 10, "maximum_event_age_in_seconds": 6 * 3600},
            opts=child,
        )
        self.register_outputs({"ruleName": self.rule.name})
