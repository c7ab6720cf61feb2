"""``labkit alarms --target aws``: the lab stack's CloudWatch alarms as CloudWatch sees them right now.

The stack names each alarm ``<project>-<rule key>`` (infrastructure/aurora-log-backup-lab-stack/alarms.py,
from labkit.alarms.rules.alarm_rules), so the same rules list says which alarms must exist. CloudWatch evaluates
them; this only reads their state, the last datapoint it saw and its reason, in the shape of the local
evaluation (labkit.alarms.local.AlarmResult), so both targets print the same table.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.alarms.local import AlarmResult
from labkit.alarms.rules import GREATER, AlarmRule
from labkit.config import LabConfig
from labkit.errors import LabkitError

MISSING = "MISSING"  # a rule with no alarm in CloudWatch: the stack is older than this labkit, or gone


class AlarmsNotDeployedError(LabkitError):
    """None of the lab's alarms exists in CloudWatch, or CloudWatch cannot be read."""


def alarm_name(config: LabConfig, rule: AlarmRule) -> str:
    return f"{config.project}-{rule.key}"


def read_cloudwatch(config: LabConfig, rules: list[AlarmRule]) -> tuple[list[AlarmResult], list[str]]:
    """Each rule's alarm state in CloudWatch, and notes on what is missing."""
    cloudwatch = aws.client("cloudwatch", config)
    alarms: dict[str, dict[str, Any]] = {}
    try:
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=f"{config.project}-", AlarmTypes=["MetricAlarm"]
        )
        for page in pages:
            alarms.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    except ClientError as exc:
        raise AlarmsNotDeployedError(
            f"cannot read CloudWatch alarms ({exc.response['Error']['Code']}): the caller needs "
            "cloudwatch:DescribeAlarms"
        ) from exc
    results, notes = [], []
    for rule in rules:
        alarm = alarms.get(alarm_name(config, rule))
        if alarm is None:
            results.append(AlarmResult(rule, MISSING, None, "no such alarm in CloudWatch"))
            continue
        deployed = replace(rule, threshold=float(alarm.get("Threshold", rule.threshold)))
        value = _worst_datapoint(alarm, deployed)
        results.append(AlarmResult(deployed, alarm["StateValue"], value, alarm.get("StateReason", "")))
    missing = [alarm_name(config, r.rule) for r in results if r.state == MISSING]
    if len(missing) == len(rules):
        raise AlarmsNotDeployedError(
            f"none of the lab's {len(rules)} alarms ({config.project}-*) is in CloudWatch in {config.region}: "
            "deploy the lab stack (`labkit deploy --target aws`)"
        )
    if missing:
        notes.append(
            f"{len(missing)} alarm(s) missing ({', '.join(missing)}): update the lab stack (`labkit deploy --target aws`)"
        )
    return results, notes


def _worst_datapoint(alarm: dict[str, Any], rule: AlarmRule) -> float | None:
    """The datapoint nearest to firing among those CloudWatch last evaluated (StateReasonData), if any."""
    try:
        points = json.loads(alarm.get("StateReasonData") or "{}").get("recentDatapoints") or []
    except (ValueError, AttributeError):
        return None
    if not points:
        return None
    return float(max(points) if rule.comparison == GREATER else min(points))
