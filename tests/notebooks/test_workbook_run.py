"""The whole workbook headless against a local lab, then the dashboard page in headless Chromium.

One lab for the module (the emulator's state lives in its memory): the runner executes 00-85 with short
durations, the dashboard page is served by Voila from the same lab, and 90_cleanup runs last and must stop
it. Screenshots land in out/ for a person to look at: out/dashboard.png and out/inspect-notebook.png.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser import VoilaServer, chromium, chromium_available

from labkit.config import LabConfig, load_config
from labkit.local import control
from labkit.local.ports import free_port
from labkit.local.state import LabState, pid_alive, read_state
from labkit.workbook.run import WorkbookRun, run_workbook

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out"
DASHBOARD = ROOT / "notebooks" / "80_audit_analytics_and_cost.ipynb"
SHORT = {"DURATION_S": 4, "TIMEOUT_S": 120}
BEFORE_CLEANUP = ["00", "10", "20", "30", "40", "50", "60", "70", "80", "85"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabConfig, LabState]]:
    config = load_config(
        env={},
        state_dir=tmp_path_factory.mktemp("workbook-lab"),
        emulator_port=0,
        db_port=0,
        scan_interval_s=10,
        seal_after_s=3,
    )
    state, _ = control.up(config)
    try:
        yield config, state
    finally:
        control.down(config)
        left = [
            p
            for p in (state.pid, *(i.pid for i in state.instances))
            if pid_alive(p) and not control._is_zombie(p)
        ]
        assert not left, f"processes left running: {left}"


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks-out")


@pytest.fixture(scope="module")
def workbook(lab: tuple[LabConfig, LabState], out_dir: Path) -> WorkbookRun:
    config, _ = lab
    return run_workbook(config, out_dir, names=BEFORE_CLEANUP, parameters=SHORT)


def _outputs(path: Path) -> list[tuple[int, dict[str, Any]]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, o) for i, cell in enumerate(nb.cells) for o in cell.get("outputs", [])]


def _values(out_dir: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((out_dir / f"{name}.values.json").read_text()))


def test_every_notebook_runs_headless_without_error_outputs(workbook: WorkbookRun) -> None:
    # GIVEN the workbook run against the local lab (fixture) THEN every notebook ran, none left an error
    assert [r.name[:2] for r in workbook.runs] == BEFORE_CLEANUP
    assert not workbook.lab_started  # the lab was up already: the runner must leave it up
    for run in workbook.runs:
        errors = [(i, o.get("ename")) for i, o in _outputs(run.output) if o["output_type"] == "error"]
        assert errors == [], f"{run.name}: {errors}"
        assert run.html.exists() and run.html.stat().st_size > 10_000


def test_inspect_and_verify_notebooks_show_their_charts_as_png(workbook: WorkbookRun) -> None:
    runs = {r.name: r for r in workbook.runs}
    for name, at_least in (("50_inspect_backup_state", 5), ("60_verify_backups", 1)):
        pngs = [i for i, o in _outputs(runs[name].output) if "image/png" in o.get("data", {})]
        assert len(pngs) >= at_least, f"{name}: PNG outputs in cells {pngs}"


def test_executed_notebooks_show_people_readable_tables_and_the_headline_card(workbook: WorkbookRun) -> None:
    # GIVEN the executed notebooks (what `make notebooks` exports as HTML)
    from outputs import acceptance_problems

    # THEN no table shows scientific notation or is a raw DataFrame, no cell shows a dict or a Python repr,
    # AND 50, 60 and 80 open with the headline card, above their first chart (every notebook's problems at once)
    problems = [
        p for r in workbook.runs for p in acceptance_problems(r.name, nbformat.read(r.output, as_version=4))
    ]
    assert problems == []
    assert {r.name[:2] for r in workbook.runs} >= {"40", "50", "60", "80", "85"}


def test_recorded_values_show_every_byte_backed_up_and_nothing_lost(
    workbook: WorkbookRun, out_dir: Path
) -> None:
    state = _values(out_dir, "50_inspect_backup_state")
    assert state["files_backed_up"] > 0
    assert state["bytes_backed_up"] > 0
    assert state["files_lost"] == 0 and state["bytes_lost"] == 0 and state["files_failed"] == 0
    verify = _values(out_dir, "60_verify_backups")
    assert verify["clean"] is True
    assert verify["missing_files"] == 0 and verify["duplicated_files"] == 0 and verify["lost_files"] == 0
    assert verify["backed_up_bytes"] == verify["source_bytes"] > 0
    waited = _values(out_dir, "40_generate_audit_traffic")["rows"][0]
    assert waited["BACKED_UP"] > 0 and waited["LOST"] == 0
    # the versioning lesson rolled live forward to a new version, then back
    rollback = _values(out_dir, "70_lambda_versioning")["rows"][0]
    assert int(rollback["now"]) < int(rollback["was"])


def test_search_notebook_counts_equal_an_independent_count_of_the_parts(
    lab: tuple[LabConfig, LabState], workbook: WorkbookRun, out_dir: Path
) -> None:
    # GIVEN notebook 85's record of the lab's backup, counted by the query engine (DuckDB over the emulator)
    from archive_count import count_archive

    from labkit import aws

    config, _ = lab
    recorded = _values(out_dir, "85_search_the_archive")
    # WHEN every part is read again here, without the engine THEN the archive is the one the engine read
    counted = count_archive(aws.client("s3", config), config.names.bucket, f"{config.log_prefix}/")
    assert (recorded["parts"], recorded["part_bytes"]) == (counted.parts, counted.part_bytes)
    # AND every event is counted once per operation, and every other line is an unparsed one
    assert recorded["events_per_operation"] == dict(counted.events_per_operation)
    assert recorded["events"] == sum(counted.events_per_operation.values()) > 0
    assert recorded["unparsed_lines"] == counted.other_lines
    assert recorded["failed_logins"] == counted.events_per_operation["FAILED_CONNECT"] > 0


def test_a_failing_cell_names_its_notebook_and_cell(lab: tuple[LabConfig, LabState], tmp_path: Path) -> None:
    from labkit.workbook.run import NotebookFailedError

    # GIVEN a notebook whose second code cell raises
    broken = tmp_path / "nb" / "00_broken.ipynb"
    broken.parent.mkdir()
    params = nbformat.v4.new_code_cell('TARGET = "local"')
    params.metadata["tags"] = ["parameters"]
    cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=cells,
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        ),
        broken,
    )
    # WHEN the runner runs it THEN the error names the notebook, the cell (after papermill's injected one)
    with pytest.raises(NotebookFailedError) as failed:
        run_workbook(lab[0], tmp_path / "out", notebooks_dir=broken.parent)
    assert failed.value.notebook == "00_broken"
    assert failed.value.ename == "ZeroDivisionError"
    assert "cell" in str(failed.value) and failed.value.cell_index >= 2
    # AND the executed notebook with the traceback is still written, with its HTML export
    assert failed.value.output.exists() and failed.value.output.with_suffix(".html").exists()


@pytest.mark.skipif(not chromium_available(), reason="chromium not installed: make test installs it")
def test_screenshot_of_the_executed_inspect_notebook(workbook: WorkbookRun, tmp_path: Path) -> None:
    html = next(r.html for r in workbook.runs if r.name == "50_inspect_backup_state")
    OUT.mkdir(exist_ok=True)
    shot = OUT / "inspect-notebook.png"
    shot.unlink(missing_ok=True)
    chromium(html.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400")
    assert shot.exists() and shot.stat().st_size > 50_000


@pytest.fixture
def voila(lab: tuple[LabConfig, LabState], workbook: WorkbookRun, tmp_path: Path) -> Iterator[VoilaServer]:
    config, _ = lab
    env = {**os.environ, **control.config_env(config)}
    server = VoilaServer(
        Path(sys.executable).with_name("voila"), DASHBOARD, free_port(), env, tmp_path / "voila.log"
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.mark.skipif(not chromium_available(), reason="chromium not installed: make test installs it")
def test_dashboard_page_renders_its_charts_without_errors(voila: VoilaServer, tmp_path: Path) -> None:
    # WHEN headless Chromium loads the Voila page of the dashboard notebook
    dom, console = chromium(voila.url, tmp_path / "profile", "--dump-dom", "--enable-logging=stderr", "--v=0")
    # THEN the charts are there as images
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', dom)
    assert len(images) >= 5, f"{len(images)} chart images; voila log:\n{voila.log.read_text()[-3000:]}"
    # AND no cell failed (no traceback, no error output) and the page's scripts raised nothing
    assert "Traceback" not in dom
    assert 'class="labkit-headline"' in dom  # the headline card tops the page
    assert 'data-mime-type="application/vnd.jupyter.error"' not in dom
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in dom
    messages = [line for line in console.splitlines() if ":CONSOLE" in line]
    failures = [m for m in messages if "Uncaught" in m or re.search(r"\b\w*Error\b", m)]
    assert failures == []
    # AND a screenshot is kept for a person to look at
    OUT.mkdir(exist_ok=True)
    shot = OUT / "dashboard.png"
    shot.unlink(missing_ok=True)
    chromium(voila.url, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400")
    assert shot.exists() and shot.stat().st_size > 50_000


def test_cleanup_notebook_stops_the_lab(
    lab: tuple[LabConfig, LabState], workbook: WorkbookRun, out_dir: Path
) -> None:
    # runs last in this module: the lab's in-memory account is gone afterwards
    config, state = lab
    run_workbook(config, out_dir, names=["90"])
    stopped = _values(out_dir, "90_cleanup")["rows"]
    assert {row["state"] for row in stopped} == {"stopped"}
    assert read_state(config) is None
    assert not pid_alive(state.pid) or control._is_zombie(state.pid)
