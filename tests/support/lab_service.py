"""What the lab service gives the handlers (its environment, fresh handler clients), and a patient wait for what
it does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.config import LabConfig
from labkit.local.runtime import emulator_environment

TIMEOUT_S = 60.0  # generous: the assertion is "without a scan", never "within N seconds"


def wait_for(what: str, condition: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {TIMEOUT_S}s: {what}")


@pytest.fixture
def handler_env(config: LabConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment the lab service gives the handlers, and fresh handler clients for this lab."""
    from labkit.handlers import clients

    for key, value in {
        **emulator_environment(config, config.endpoint_url),
        "LABKIT_PROJECT": config.project,
    }.items():
        monkeypatch.setenv(key, value)
    caches = (clients.config, clients.session, clients.client, clients.table)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()
