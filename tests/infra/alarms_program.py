"""The lab program under Pulumi mocks with ARNs shaped as AWS makes them for the alarm topic, its key and the
alarms, shared by the alarm and RDS-events stack tests."""

from __future__ import annotations

from typing import Any

import pulumi_harness
import pytest
from pulumi_harness import (
    ACCOUNT,
    LAB_DIR,
    LAB_PROJECT,
    REGION,
    ProgramRun,
    ecr_outputs,
    lab_config,
    run_program,
)

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
real_fake_state = pulumi_harness.fake_state


def fake_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The harness's, plus ARNs shaped as AWS makes them for the types this module adds."""
    if typ == TOPIC:
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{inputs['name']}"
        return arn, {"arn": arn}
    if typ == ALARM:
        return inputs["name"], {"arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{inputs['name']}"}
    return real_fake_state(typ, name, inputs)


def run(**config: str) -> ProgramRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulumi_harness, "fake_state", fake_state)
        return run_program(LAB_DIR, LAB_PROJECT, lab_config(**config), ecr_outputs())
