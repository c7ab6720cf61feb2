"""The local deploy scans every minute by default, as the stack does (tests/infra/test_rpo_schedule.py):
the rule in the emulator and the local runtime's ticker, from the same LabConfig default."""

from __future__ import annotations

import uuid
from pathlib import Path

from labkit.config import load_config
from labkit.local.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime
from tests.support.emulated import EmulatedAccount


def test_the_local_lab_scans_every_minute_by_default(account: EmulatedAccount, tmp_path: Path) -> None:
    # GIVEN a config with no LABKIT_* setting, deployed to the emulator
    config = load_config(
        env={}, endpoint_url=account.url, state_dir=tmp_path, project=f"lab-{uuid.uuid4().hex[:8]}"
    )
    deploy_local(config)
    # THEN the schedule rule fires every minute, and the runtime's ticker (which plays that rule) too
    rule = account.client("events").describe_rule(Name=config.names.schedule_rule)
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    runtime = LambdaRuntime(config, *(lambda event, context: None for _ in range(3)))
    assert (runtime.first_tick_s, runtime.config.scan_interval_s, config.scan_period_s) == (60.0, 60.0, 60.0)
    # ... and tailing is off unless asked for
    assert config.detector_tailing is False
