"""Headless Chromium and Voila as test subprocesses, each in its own process group so that teardown stops
everything it started (Chromium's renderers and zygotes included) and nothing else."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",  # let the page's scripts settle before the DOM is read
]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, give the leader ``timeout`` seconds, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


def chromium(url: str, profile: Path, *extra: str, timeout: float = 90.0) -> tuple[str, str]:
    """Run headless Chromium once on ``url``; returns (stdout, stderr). Killed with its group afterwards."""
    process = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        stop_group(process)
    return out.decode(errors="replace"), err.decode(errors="replace")


class VoilaServer:
    """``voila <notebook>`` on a loopback port, with the environment the notebook's kernel needs."""

    def __init__(self, voila: Path, notebook: Path, port: int, env: Mapping[str, str], log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(voila), str(notebook), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}"],
            env=dict(env),
            cwd=notebook.parent,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"voila exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"voila did not answer on {self.url} in {timeout:.0f}s")

    def stop(self) -> None:
        stop_group(self.process, timeout=20)
        self._log_file.close()
