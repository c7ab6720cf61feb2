"""A lab deployed in the emulator (``config``: its own project name, no scheduled scan), what the lab service
gives the handlers (``handler_env``: its environment, fresh handler clients), and a patient wait for what it
does in the background. Test modules bind the fixtures by name (``config = lab_service.config``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.config import LabConfig, load_config
from labkit.local.deploy import deploy_local
from labkit.local.runtime import emulator_environment
from tests.support.emulated import EmulatedAccount


@pytest.fixture
def config(account: EmulatedAccount, tmp_path: Path) -> LabConfig:
    lab = load_config(
        endpoint_url=account.url,
        state_dir=tmp_path / "state",
        project=f"lab-{uuid.uuid4().hex[:8]}",  # moto's backends are per process: keep tests apart
        scan_interval_s=3600.0,  # no scheduled scan: the runtime's own ticker never fires during a test
    )
    deploy_local(lab)
    return lab


TIMEOUT_S = 60.0  # generous: the assertion is "without a scan", never "within N seconds"


def wait_for(
    what: str, condition: Callable[[], Any], timeout_s: float = TIMEOUT_S, poll_s: float = 0.1
) -> Any:
    """``condition()``'s first truthy answer, asked every ``poll_s``; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(poll_s)
    raise AssertionError(f"not within {timeout_s}s: {what}")


@pytest.fixture
def handler_env(config: LabConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment the lab service gives the handlers, and fresh handler clients for this lab."""
    from labkit.handlers import clients

    for key, value in {
        **emulator_environment(config, config.endpoint_url),
        "LABKIT_PROJECT": config.project,
    }.items():
        monkeypatch.setenv(key, value)
    clients.forget()
    yield
    clients.forget()
