"""Alarms that wake someone: CloudWatch alarms from labkit.alarms' rules, an encrypted SNS topic, a dashboard.

The rules (metric, namespace, dimensions, threshold, missing data) are defined once in labkit.alarms, which
``labkit alarms`` also evaluates against the local lab; this module only turns them into resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from events import RDS_EVENTS, topic_publish_statement
from iam import Scope

from labkit.alarms import Panel, alarm_rules, dashboard_panels
from labkit.backup.rdsevents import alarm_topic_name
from labkit.config import LabConfig

CLOUDWATCH = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class AlarmsArgs:
    lab: LabConfig
    scope: Scope
    lag_threshold_s: float
    email: str | None = None
    rds_instance_ids: tuple[str, ...] = ()  # RDS may publish these instances' events (events.py)


def this_stacks_alarms(scope: Scope, project: str) -> dict[str, dict[str, str]]:
    """The confused-deputy guard on CloudWatch's sns:Publish: only this stack's alarms (named <project>-*).
    On the topic policy only: SNS's docs show these keys for sns:Publish, not for the KMS request."""
    return {
        "StringEquals": {"aws:SourceAccount": scope.account_id},
        "ArnLike": {"aws:SourceArn": scope.arn("cloudwatch", f"alarm:{project}-*")},
    }


def topic_key_grant(sid: str, service: str) -> dict[str, Any]:
    """What a service publishing to the encrypted topic needs from its key, as AWS's SNS guide shows it
    ("Enable compatibility between event sources from AWS services and encrypted topics", Amazon SNS
    Developer Guide): kms:GenerateDataKey* and kms:Decrypt, no condition. aws:SourceArn/aws:SourceAccount
    are not documented on that KMS request; if it lacked them the alarms would fire and deliver nothing.
    The guard on who publishes is the topic policy, and this key serves this topic only."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def key_policy(scope: Scope, project: str, rds_events: bool = False) -> str:
    """The topic key's policy: the account administers it (as a default key policy does), and every service
    that publishes to the topic (CloudWatch's alarms; RDS's events when subscribed) may encrypt to it, which
    it must to publish to an encrypted topic at all. In a key policy ``Resource: "*"`` is this key."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersTheKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{scope.partition}:iam::{scope.account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                topic_key_grant("CloudWatchAlarmsPublishToTheEncryptedTopic", CLOUDWATCH),
                *([topic_key_grant("RdsEventsPublishToTheEncryptedTopic", RDS_EVENTS)] if rds_events else []),
            ],
        }
    )


def topic_policy(scope: Scope, project: str, topic_arn: str, rds_instance_ids: tuple[str, ...] = ()) -> str:
    """Only this stack's CloudWatch alarms and RDS's events of the lab's instances publish (confused-deputy
    guards), and only over TLS."""
    rds = [scope.arn("rds", f"db:{instance_id}") for instance_id in rds_instance_ids]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ThisAccountsAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": CLOUDWATCH},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": this_stacks_alarms(scope, project),
                },
                *([topic_publish_statement(rds, scope.account_id, topic_arn)] if rds else []),
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def dashboard_body(panels: list[Panel], region: str, alarm_arns: list[str]) -> str:
    """CloudWatch dashboard JSON: one time series per panel, then the state of every alarm."""
    widgets: list[dict[str, Any]] = []
    for i, panel in enumerate(panels):
        series = [
            [
                ref.namespace,
                ref.name,
                *[part for pair in ref.dimensions for part in pair],
                {"stat": panel.statistic},
            ]
            for ref in panel.metrics
        ]
        widgets.append(
            {
                "type": "metric",
                "x": (i % 2) * 12,
                "y": (i // 2) * 6,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": panel.title,
                    "region": region,
                    "view": "timeSeries",
                    "stacked": False,
                    "period": 300,
                    "metrics": series,
                },
            }
        )
    widgets.append(
        {
            "type": "alarm",
            "x": 0,
            "y": ((len(panels) + 1) // 2) * 6,
            "width": 24,
            "height": 6,
            "properties": {"title": "Alarms", "alarms": alarm_arns},
        }
    )
    return json.dumps({"widgets": widgets})


class PipelineAlarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:PipelineAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab, scope = args.lab, args.scope

        self.key = aws.kms.Key(
            "alarms-key",
            description=f"{lab.project}: SSE-KMS for the alarm topic",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=key_policy(scope, lab.project, rds_events=bool(args.rds_instance_ids)),
            opts=child,
        )
        aws.kms.Alias(
            "alarms-key-alias", name=f"alias/{lab.project}-alarms", target_key_id=self.key.key_id, opts=child
        )
        self.topic = aws.sns.Topic(
            "alarms", name=alarm_topic_name(lab.project), kms_master_key_id=self.key.arn, opts=child
        )
        aws.sns.TopicPolicy(
            "alarms-publish",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(lambda a: topic_policy(scope, lab.project, a, args.rds_instance_ids)),
            opts=child,
        )
        if args.email:  # the address must confirm the subscription before anything is delivered
            aws.sns.TopicSubscription(
                "alarms-email", topic=self.topic.arn, protocol="email", endpoint=args.email, opts=child
            )

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for rule in alarm_rules(lab, lag_threshold_s=args.lag_threshold_s):
            self.alarms[rule.key] = aws.cloudwatch.MetricAlarm(
                rule.key,
                name=f"{lab.project}-{rule.key}",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],  # the all-clear too: whoever was woken learns it is over
                **rule.cloudwatch(),
                opts=child,
            )
        arns = [alarm.arn for alarm in self.alarms.values()]
        self.dashboard = aws.cloudwatch.Dashboard(
            "pipeline",
            dashboard_name=f"{lab.project}-pipeline",
            dashboard_body=pulumi.Output.all(*arns).apply(
                lambda resolved: dashboard_body(dashboard_panels(lab), scope.region, list(resolved))
            ),
            opts=child,
        )
        self.register_outputs(
            {"topicArn": self.topic.arn, "alarmNames": [a.name for a in self.alarms.values()]}
        )
