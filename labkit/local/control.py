"""``labkit local up|down|status``: start, stop and describe the background lab service."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from labkit.config import ENV_PREFIX, LabConfig
from labkit.errors import LabStartError
from labkit.local import snapshot
from labkit.local.databases import find_binary
from labkit.local.state import LabState, pid_alive, read_state, state_path


def up(config: LabConfig, fresh: bool = False) -> tuple[LabState, bool]:
    """Start the lab unless it runs already; returns its state and whether it was started now.

    The service restores the last snapshot (the archive and the tracking table); ``fresh`` discards it
    first, so the lab starts from nothing. A running lab is never discarded: stop it first."""
    existing = read_state(config)
    # a killed service that the caller itself started stays a zombie until reaped: that is not running
    if existing and pid_alive(existing.pid) and not _is_zombie(existing.pid):
        if fresh:
            raise LabStartError("the local lab is running: `labkit local down` first, then `up --fresh`")
        return existing, False
    if existing:
        _clean_stale(config, existing)
    if fresh:
        snapshot.discard(config)
    for binary in ("mariadbd", "mariadb-install-db"):
        find_binary(binary)  # fail here, with the package to install, not inside the service
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = state_dir / "service.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "labkit.local.service"],
            env={**os.environ, **config_env(config)},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the shell or notebook kernel that started it
        )
    deadline = time.monotonic() + config.start_timeout_s + 30
    while time.monotonic() < deadline:
        state = read_state(config)
        if state and state.pid == process.pid:
            return state, True
        if process.poll() is not None:
            raise LabStartError(f"the local lab failed to start:\n{_tail(log_path)}")
        time.sleep(0.05)
    _terminate(process.pid, 10)
    raise LabStartError(f"the local lab was not ready in time:\n{_tail(log_path)}")


def down(config: LabConfig, timeout_s: float = 60.0) -> bool:
    """Stop the lab and everything it started; returns False when nothing was running."""
    state = read_state(config)
    if state is None:
        return False
    running = pid_alive(state.pid)
    if running:
        _terminate(state.pid, timeout_s)
    _clean_stale(config, state)
    return running


def status(config: LabConfig) -> dict[str, Any]:
    """What scripts need: the emulator endpoint and each instance with its audit files as RDS lists them."""
    state = read_state(config)
    if state is None or not pid_alive(state.pid):
        return {"running": False, "state_dir": str(config.state_dir)}
    files = _emulator_log_files(state.endpoint)
    instances = [
        {**dataclasses.asdict(inst), "audit_files": files.get(inst.id, [])} for inst in state.instances
    ]
    return {
        "running": True,
        "pid": state.pid,
        "endpoint": state.endpoint,
        "region": config.region,
        "state_dir": state.state_dir,
        "log_file": state.log_file,
        "instances": instances,
    }


def _emulator_log_files(endpoint: str) -> dict[str, list[dict[str, Any]]]:
    with urllib.request.urlopen(f"{endpoint}/labkit-api/logfiles", timeout=10) as response:
        result: dict[str, list[dict[str, Any]]] = json.load(response)
    return result


def config_env(config: LabConfig) -> dict[str, str]:
    """The whole config as LABKIT_* variables, so the service sees exactly what the caller saw."""
    env = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        env[ENV_PREFIX + f.name.upper()] = str(value)
    return env


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid) or _is_zombie(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _clean_stale(config: LabConfig, state: LabState) -> None:
    """A crashed service may leave its databases behind: stop those, then forget the state."""
    for inst in state.instances:
        if inst.pid and pid_alive(inst.pid) and "mariadbd" in _cmdline(inst.pid):
            _terminate(inst.pid, 30)
    state_path(config).unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no service log)"
