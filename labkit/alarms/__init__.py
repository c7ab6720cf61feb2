"""The alarms that wake someone, the same on both targets.

- ``rules``: each alarm defined once (metric, threshold, missing data); the lab stack makes CloudWatch alarms
  of them;
- ``panels``: the CloudWatch dashboard, the alarms' inputs beside the local charts they stand for;
- ``local``: the rules evaluated against the local lab's table, queues and Lambda runtime, as CloudWatch would;
- ``cloudwatch``: the states CloudWatch holds for the deployed alarms, in the same table.

Other packages import the names below, not the modules.
"""

from __future__ import annotations

from labkit.alarms.cloudwatch import MISSING, AlarmsNotDeployedError, alarm_name, read_cloudwatch
from labkit.alarms.local import (
    ALARM,
    INSUFFICIENT,
    OK,
    AlarmResult,
    AlarmSourceError,
    LocalReadings,
    caught_up,
    evaluate,
    read_local,
)
from labkit.alarms.panels import Panel, dashboard_panels
from labkit.alarms.rules import (
    BREACHING,
    DEFAULT_LAG_THRESHOLD_S,
    GREATER,
    LESS,
    NOT_BREACHING,
    PERIOD_S,
    AlarmRule,
    MetricRef,
    alarm_rules,
    heartbeat_period_s,
)

__all__ = [
    "ALARM",
    "BREACHING",
    "DEFAULT_LAG_THRESHOLD_S",
    "GREATER",
    "INSUFFICIENT",
    "LESS",
    "MISSING",
    "NOT_BREACHING",
    "OK",
    "PERIOD_S",
    "AlarmResult",
    "AlarmRule",
    "AlarmSourceError",
    "AlarmsNotDeployedError",
    "LocalReadings",
    "MetricRef",
    "Panel",
    "alarm_name",
    "alarm_rules",
    "caught_up",
    "dashboard_panels",
    "evaluate",
    "heartbeat_period_s",
    "read_cloudwatch",
    "read_local",
]
