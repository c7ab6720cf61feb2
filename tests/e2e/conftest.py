"""The real local lab: private MariaDB servers with server_audit, the emulator in its background service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import aws
from labkit.config import LabConfig
from labkit.local import control
from labkit.local.state import LabState
from tests.support.local_lab import down_leaving_nothing, lab_settings


@pytest.fixture(scope="session")
def lab_config(tmp_path_factory: pytest.TempPathFactory) -> LabConfig:
    return lab_settings(tmp_path_factory.mktemp("lab"))  # both naming schemes in one lab


@pytest.fixture(scope="session")
def lab(lab_config: LabConfig) -> Iterator[LabState]:
    state, _ = control.up(lab_config)
    try:
        yield state
    finally:
        down_leaving_nothing(lab_config, state)  # the service and both mariadbd are gone


@pytest.fixture(scope="session")
def lab_rds(lab: LabState, lab_config: LabConfig):  # type: ignore[no-untyped-def]
    return aws.client("rds", lab_config)


def audit_bytes(directory: str) -> int:
    return sum(p.stat().st_size for p in Path(directory).glob("server_audit.log*"))
