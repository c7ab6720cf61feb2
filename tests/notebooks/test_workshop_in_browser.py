"""The workshop as a learner uses it: ``make jupyter``'s server in Chromium, notebooks 40, 50 and 80 opened
from the file browser and run with Run ▸ Run All Cells, then ``make dashboard``'s Voila page.

One local lab of the test's own for the module (the notebooks talk to it through the kernels' LABKIT_*
environment). The server serves a working copy in a temporary folder, made by the same entry make jupyter
runs. Screenshots go to out/screenshots/ (``make screenshots`` makes the README's pictures from them).
Afterwards the repository is as it was (git status, the committed notebooks byte for byte) and no server,
kernel or browser process is left.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser import chromium_available
from learner import (
    NOTEBOOK_TIMEOUT_S,
    PAGE_TIMEOUT_S,
    WorkshopServer,
    chart_images,
    close_notebook,
    environment,
    kernel_name,
    notifications,
    open_notebook,
    output_texts,
    prompts,
    run_all,
    save,
)

from labkit.config import LabConfig, load_config
from labkit.local import control
from labkit.local.ports import free_port
from labkit.local.state import LabState
from tests.support.lab_service import wait_for
from tests.support.local_lab import down_leaving_nothing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not chromium_available(), reason="chromium not installed: make test installs it"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="playwright: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
NOTEBOOKS = ["40_generate_audit_traffic", "50_inspect_backup_state", "80_audit_analytics_and_cost"]
CHARTS = {"50_inspect_backup_state": 3, "80_audit_analytics_and_cost": 3}  # at least, as <img> outputs
VIEWPORT = {"width": 1400, "height": 1000}


def _repository_state() -> tuple[str, dict[str, str]]:
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    committed = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "notebooks").iterdir()}
    return status, committed


@pytest.fixture(scope="module")
def repository() -> Iterator[None]:
    before = _repository_state()
    yield
    after = _repository_state()
    # THEN the workshop left the repository as it found it: no output, checkpoint or setting in git's view
    assert after[0] == before[0], f"git status changed:\nbefore:\n{before[0]}\nafter:\n{after[0]}"
    assert after[1] == before[1], "a committed notebook was written"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, repository: None) -> Iterator[tuple[LabConfig, LabState]]:
    config = load_config(
        env={},
        state_dir=tmp_path_factory.mktemp("workshop-lab"),
        emulator_port=0,
        db_port=0,
        profile="workshop",
    )
    state, _ = control.up(config)
    try:
        yield config, state
    finally:
        down_leaving_nothing(config, state)


@pytest.fixture(scope="module")
def server_env(lab: tuple[LabConfig, LabState], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    return environment({**os.environ, **control.config_env(lab[0])}, ROOT, runtime)


@pytest.fixture(scope="module")
def workshop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workshop")


@pytest.fixture(scope="module")
def jupyter(server_env: dict[str, str], workshop_dir: Path) -> Iterator[WorkshopServer]:
    base = workshop_dir
    server = WorkshopServer(
        "jupyter",
        [f"--dir={base / 'copy'}", f"--runtime-dir={base / 'jupyter'}"],
        free_port(),
        server_env,
        base / "jupyter.log",
    )
    try:
        server.wait_ready(f"api/status?token={server.token}")
        yield server
    finally:
        left = server.stop()
        assert not left, f"JupyterLab left processes running: {sorted(left)}"
    assert server.started, "the server started no kernel: the notebooks did not run"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # under the run's temp dir: the leak check sees it
    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path="/usr/bin/chromium", headless=True, viewport=VIEWPORT
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def lab_page(browser: Any, jupyter: WorkshopServer) -> Iterator[Any]:
    page = browser.new_page()
    page.goto(jupyter.url(f"lab?token={jupyter.token}"), timeout=PAGE_TIMEOUT_S * 1000)
    page.locator(".jp-DirListing-content").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    yield page
    page.close()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_learner_runs_the_notebook_in_jupyterlab(lab_page: Any, workshop_dir: Path, name: str) -> None:
    # WHEN the learner opens the notebook from the file browser
    open_notebook(lab_page, f"{name}.ipynb")
    # THEN it runs on the kernel the README names
    assert kernel_name(lab_page) == "Python (labkit)"
    # WHEN they run every cell from the Run menu and save
    run_all(lab_page)
    save(lab_page)
    copy = workshop_dir / "copy" / f"{name}.ipynb"
    saved = wait_for(
        f"{copy} saved with its outputs",
        lambda: _executed(copy),
        timeout_s=PAGE_TIMEOUT_S,
        poll_s=0.5,
    )
    # THEN every code cell ran, none raised, and no traceback is on the screen
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts(lab_page)), prompts(lab_page)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, o in saved if o["output_type"] == "error"]
    stderr = output_texts(lab_page, "application/vnd.jupyter.stderr")
    assert errors == [], f"{name}: {errors}\nstderr shown:\n{stderr}"
    assert not [t for t in stderr if "Traceback" in t or "Error" in t], stderr
    # AND the charts rendered as images in the page
    assert chart_images(lab_page) >= CHARTS.get(name, 0)
    # AND no pop-up (JupyterLab's news question among them) covers the outputs
    assert notifications(lab_page) == []
    _screenshot(lab_page, f"jupyterlab-{name}.png")
    close_notebook(lab_page)


def _executed(path: Path) -> list[tuple[int, dict[str, Any]]] | None:
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None  # not written yet, or being written
    if all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"):
        return None  # the saved run is not there yet (a failed run is: the asserts then name the error)
    return [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])]


def _screenshot(page: Any, name: str) -> None:
    """The notebook scrolled to its headline card at the top of the pane (else its first chart, else its
    top), as a person sees it once it is painted: the card and what follows it."""
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    shown = page.locator(f"{panel} .labkit-headline").first
    if not shown.count():
        shown = page.locator(f"{panel} .jp-OutputArea-output img").first
    if not shown.count():
        shown = page.locator(f"{panel} .jp-Cell").first
    shown.evaluate("element => element.scrollIntoView({block: 'start'})")
    playwright.expect(shown).to_be_in_viewport(timeout=PAGE_TIMEOUT_S * 1000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / name
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000


@pytest.fixture
def dashboard(server_env: dict[str, str], tmp_path: Path) -> Iterator[WorkshopServer]:
    server = WorkshopServer(
        "dashboard",
        [f"--runtime-dir={tmp_path / 'jupyter'}"],
        free_port(),
        server_env,
        tmp_path / "voila.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        left = server.stop()
        assert not left, f"Voila left processes running: {sorted(left)}"


def test_the_dashboard_page_renders_after_the_workshop(browser: Any, dashboard: WorkshopServer) -> None:
    # GIVEN the notebooks above made traffic and backed it up
    # WHEN the dashboard page (make dashboard) is opened
    page = browser.new_page()
    try:
        page.goto(dashboard.url(), timeout=NOTEBOOK_TIMEOUT_S * 1000)
        page.locator("#rendered_cells").wait_for(state="visible", timeout=NOTEBOOK_TIMEOUT_S * 1000)
        # THEN its charts are there and no cell failed
        text = page.locator("#rendered_cells").inner_text()
        assert "Traceback" not in text and "There was an error" not in text, dashboard.log_text()
        assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, text[:2000]
        assert page.locator("#rendered_cells img").count() >= 5, dashboard.log_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    finally:
        page.close()
