"""The real local lab: private MariaDB servers with server_audit, the emulator in its background service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import aws
from labkit.config import LabConfig, load_config
from labkit.local import control
from labkit.local.state import LabState


@pytest.fixture(scope="session")
def lab_config(tmp_path_factory: pytest.TempPathFactory) -> LabConfig:
    # The writer names files like Aurora, the reader like RDS for MySQL: both schemes in one lab.
    # A 1 MB rotate size makes several files within seconds of load.
    return load_config(
        env={},
        state_dir=tmp_path_factory.mktemp("lab"),
        emulator_port=0,
        db_port=0,
        naming_scheme="aurora",
        reader_naming_scheme="rds-mysql",
        audit_rotate_size=1024 * 1024,
        audit_rotations=200,
        seal_after_s=2.0,  # no retention deletes during a test run: inode numbers stay unique
    )


@pytest.fixture(scope="session")
def lab(lab_config: LabConfig) -> Iterator[LabState]:
    state, _ = control.up(lab_config)
    try:
        yield state
    finally:
        control.down(lab_config)
        # down leaves no process behind: the service and both mariadbd are gone
        from labkit.local.state import pid_alive

        left = [
            p
            for p in (state.pid, *(i.pid for i in state.instances))
            if pid_alive(p) and not control._is_zombie(p)
        ]
        assert not left, f"processes left running after down: {left}"


@pytest.fixture(scope="session")
def lab_rds(lab: LabState, lab_config: LabConfig):  # type: ignore[no-untyped-def]
    return aws.client("rds", lab_config)


def audit_bytes(directory: str) -> int:
    return sum(p.stat().st_size for p in Path(directory).glob("server_audit.log*"))
