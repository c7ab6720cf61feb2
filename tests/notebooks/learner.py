"""A learner at the workshop: ``make jupyter``'s and ``make dashboard``'s servers (the same entry, on a free
loopback port, with a lab of the test's own) and what a person does in JupyterLab with Playwright driving
Debian's Chromium (no browser download: ``executable_path``).

Every wait is on a state (the page, the kernel's prompts, a saved file) with a generous bound, never a sleep
that guesses how fast the machine is. Each server runs in its own process group; teardown stops it and
then checks that nothing it started (kernels included) is still alive.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from browser import stop_group

NOTEBOOK_TIMEOUT_S = 900.0  # a whole notebook's Run All: 40 waits up to 180 s for its backups
PAGE_TIMEOUT_S = 120.0
MENU_TIMEOUT_S = 30.0


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (kernels run in a session of their own, but are its children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                left.add(pid)
        except (FileNotFoundError, IndexError):
            continue
    return left


class WorkshopServer:
    """``python -m labkit.workbook.workshop jupyter|dashboard`` (what make jupyter / make dashboard run)."""

    def __init__(self, command: str, args: list[str], port: int, env: Mapping[str, str], log: Path) -> None:
        self.port = port
        self.token = secrets.token_hex(24)
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "labkit.workbook.workshop", command, f"--port={port}", *args],
            env={**env, "JUPYTER_TOKEN": self.token},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started: set[int] = set()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def wait_ready(self, probe: str | None = None, timeout: float = PAGE_TIMEOUT_S) -> None:
        """Until ``probe`` answers 200 (or, without one, the port takes connections)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if probe is None:
                    socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                    return
                with urllib.request.urlopen(self.url(probe), timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise TimeoutError(f"{self.url()} did not answer in {timeout:.0f}s:\n{self.log_text()}")

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> set[int]:
        """Stop the server; returns the processes it had started that are still alive (should be none)."""
        self.started = descendants(self.process.pid)
        stop_group(self.process, timeout=30)
        self._log_file.close()
        deadline = time.monotonic() + 30  # kernels get the server's shutdown request, then exit
        while alive(self.started) and time.monotonic() < deadline:
            time.sleep(0.2)
        return alive(self.started)


# --- what the learner does in JupyterLab -------------------------------------------------------------
PROMPTS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"""


def open_notebook(page: Any, name: str) -> None:
    """Double-click the notebook in the file browser, as a person would, and wait for it to be open."""
    item = page.locator(".jp-DirListing-content").get_by_text(name, exact=True).first
    item.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    item.dblclick()
    page.locator(f'.lm-TabBar-tab.lm-mod-current:has-text("{name}")').wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").first.wait_for(
        timeout=PAGE_TIMEOUT_S * 1000
    )


def kernel_name(page: Any) -> str:
    """The kernel the open notebook shows, once it has one (or a dialog asks the learner to pick one)."""
    page.wait_for_function(
        """() => {
            const name = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName');
            const indicator = document.querySelector(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            const ready = name !== null && name.textContent.trim() !== 'No Kernel'
                && indicator !== null && indicator.dataset.status === 'idle';
            return ready || document.querySelector('.jp-Dialog') !== null;
        }""",
        timeout=PAGE_TIMEOUT_S * 1000,
        polling=250,
    )
    return str(page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName").first.inner_text())


def run_all(page: Any) -> None:
    """Run ▸ Run All Cells from the menu bar, then wait until every code cell has run and the kernel is idle.

    Done means: no cell queued or running (``[*]``), the first code cell numbered (so the run has started
    and finished), and the notebook's kernel indicator idle."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).first.click(
        timeout=MENU_TIMEOUT_S * 1000
    )
    page.wait_for_function(
        f"""() => {{
            const prompts = ({PROMPTS})();
            const indicator = document.querySelector(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && /^\\[\\d+\\]:$/.test(prompts[0])
                && !prompts.some(p => p.includes('*'))
                && indicator !== null && indicator.dataset.status === 'idle';
        }}""",
        timeout=NOTEBOOK_TIMEOUT_S * 1000,
        polling=500,
    )


def prompts(page: Any) -> list[str]:
    return list(page.evaluate(PROMPTS))


def save(page: Any) -> None:
    """File ▸ Save Notebook (Ctrl+S), then wait until the tab no longer shows unsaved changes."""
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty").wait_for(
        state="detached", timeout=PAGE_TIMEOUT_S * 1000
    )


def close_notebook(page: Any) -> None:
    """Close the notebook's tab (saved: JupyterLab asks nothing), so the next one is the only one open."""
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
    page.locator(".jp-NotebookPanel").first.wait_for(state="detached", timeout=PAGE_TIMEOUT_S * 1000)


def output_texts(page: Any, mime: str) -> list[str]:
    selector = f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="{mime}"]'
    return [str(t) for t in page.locator(selector).all_inner_texts()]


def chart_images(page: Any) -> int:
    return int(page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img").count())


def notifications(page: Any) -> list[str]:
    """The toasts JupyterLab shows (the news pop-up among them)."""
    return [str(t) for t in page.locator(".Toastify__toast").all_inner_texts()]


def environment(base: Mapping[str, str], root: Path, runtime: Path) -> dict[str, str]:
    """``base`` with this repository's labkit first on the path (servers and kernels alike) and Jupyter's
    runtime files (the kernels' connection files) under ``runtime``."""
    runtime.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(
        dict.fromkeys(p for p in (str(root), *base.get("PYTHONPATH", "").split(os.pathsep)) if p)
    )
    return {**base, "JUPYTER_RUNTIME_DIR": str(runtime), "PYTHONPATH": path}
