"""What the running local lab looks like, written by the service and read by every other process."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit.config import LabConfig
from labkit.errors import LabNotRunningError

STATE_FILE = "lab.json"


@dataclass(frozen=True)
class InstanceState:
    id: str
    cluster: str
    role: str  # writer | reader
    port: int
    scheme: str  # aurora | rds-mysql
    audit_dir: str
    datadir: str
    socket: str
    pid: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class LabState:
    pid: int
    endpoint: str
    state_dir: str
    log_file: str
    started_at: float
    instances: list[InstanceState] = field(default_factory=list)
    restored: dict[str, Any] | None = None  # what the snapshot brought back at start (None: nothing)

    def instance(self, instance_id: str) -> InstanceState:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        known = ", ".join(i.id for i in self.instances)
        raise LabNotRunningError(f"no local DB instance {instance_id!r} (known: {known})")

    def role(self, role: str) -> InstanceState:
        for inst in self.instances:
            if inst.role == role:
                return inst
        raise LabNotRunningError(f"the local lab has no {role} instance")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LabState:
        instances = [InstanceState(**i) for i in raw.pop("instances", [])]
        return cls(instances=instances, **raw)


def state_path(config: LabConfig) -> Path:
    return Path(config.state_dir) / STATE_FILE


def write_state(config: LabConfig, state: LabState) -> None:
    path = state_path(config)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


def read_state(config: LabConfig) -> LabState | None:
    """The recorded state, or None when no lab was started in this state directory."""
    try:
        return LabState.from_dict(json.loads(state_path(config).read_text()))
    except FileNotFoundError:
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_running_state(config: LabConfig) -> LabState:
    state = read_state(config)
    if state is None or not pid_alive(state.pid):
        raise LabNotRunningError(
            f"the local lab is not running (state dir {config.state_dir}): start it with `labkit local up`"
        )
    return state
