"""A deployed lab in the emulator for the alarm tests (`labkit alarms`, the workbook's alarm panel): its config
(its own project name), the local Lambda runtime with do-nothing handlers and its counters served as the lab
service serves them, and one detector scan. Test modules bind the fixtures by name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig, load_config
from labkit.deploy import deploy_local
from labkit.local.runtime import LambdaRuntime, control_routes
from tests.support.emulated import EmulatedAccount


@pytest.fixture
def config(account: EmulatedAccount, tmp_path: Path) -> LabConfig:
    lab = load_config(
        endpoint_url=account.url,
        state_dir=tmp_path / "state",
        project=f"lab-{uuid.uuid4().hex[:8]}",  # moto's backends are per process: keep tests apart
        scan_interval_s=3600.0,  # the runtime's own ticker never fires during a test
    )
    deploy_local(lab)
    return lab


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
