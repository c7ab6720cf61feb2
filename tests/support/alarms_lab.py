"""For the alarm tests (`labkit alarms`, the workbook's alarm panel), beside the deployed lab of lab_service.py:
the local Lambda runtime with do-nothing handlers and its counters served as the lab service serves them, and
one detector scan, and a CloudWatch alarm made from one alarm rule. Test modules bind the fixtures by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labkit.alarms import AlarmRule
from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig
from labkit.local.runtime import LambdaRuntime, control_routes
from tests.support.emulated import EmulatedAccount


@pytest.fixture
def runtime(account: EmulatedAccount, config: LabConfig) -> Iterator[LambdaRuntime]:
    """The local Lambda runtime with do-nothing handlers, its counters served as the lab service serves them."""
    rt = LambdaRuntime(config, lambda e, c: None, lambda e, c: None, lambda e, c: None, poll_interval_s=0.05)
    account.server.app.routes.update(control_routes(rt))
    rt.start()
    yield rt
    rt.stop()


def detected(account: EmulatedAccount, config: LabConfig, instance_id: str) -> Any:
    """One detector scan of the instance against the lab's table (what the detector Lambda does)."""
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    return detect(
        account.rds,
        table,
        InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora"),
        seal_after_s=0.0,
        ttl_days=30,
        credentials=account.session.get_credentials(),
    )


def put_rule_alarm(cloudwatch: Any, name: str, rule: AlarmRule, **extra: Any) -> None:
    """The CloudWatch alarm the stack makes for ``rule`` (its first metric), plus ``extra`` (actions ...)."""
    metric = rule.metrics[0]
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=[{"Name": k, "Value": v} for k, v in metric.dimensions],
        Statistic=rule.statistic,
        Period=rule.period_s,
        EvaluationPeriods=rule.evaluation_periods,
        Threshold=rule.threshold,
        ComparisonOperator=rule.comparison,
        TreatMissingData=rule.treat_missing_data,
        **extra,
    )
