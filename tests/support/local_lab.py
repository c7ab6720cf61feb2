"""The real local lab as the e2e and notebook tests run it: the settings of a lab with both naming schemes, and a
`down` that checks it left no process behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.config import LabConfig, load_config
from labkit.local import control
from labkit.local.state import LabState, pid_alive


def lab_settings(state_dir: Path, **overrides: Any) -> LabConfig:
    """A lab whose writer names files like Aurora and whose reader names them like RDS for MySQL; a 1 MB rotate
    size makes several files within seconds of load. ``state_dir`` short: mariadbd's socket path must fit
    107 bytes."""
    settings: dict[str, Any] = {
        "emulator_port": 0,
        "db_port": 0,
        "naming_scheme": "aurora",
        "reader_naming_scheme": "rds-mysql",
        "audit_rotate_size": 1024 * 1024,
        "audit_rotations": 200,
        "seal_after_s": 2.0,  # no retention deletes during a test run: inode numbers stay unique
        **overrides,
    }
    return load_config(env={}, state_dir=state_dir, **settings)


def down_leaving_nothing(config: LabConfig, state: LabState | None) -> None:
    """`down`, then no process of ``state`` (the service and every mariadbd) is left running."""
    control.down(config)
    started = [state.pid, *(i.pid for i in state.instances)] if state else []
    left = [p for p in started if pid_alive(p) and not control._is_zombie(p)]
    assert not left, f"processes left running after down: {left}"
