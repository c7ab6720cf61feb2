"""Run the workbook headless: every notebook in order with papermill, against the local target.

The lab must stay up across notebooks (the emulator keeps its state in memory), so the runner brings it up
first and down at the end only if it started it. Each kernel inherits the runner's LABKIT_* settings, so
every notebook talks to this lab. Executed notebooks and their HTML exports go to ``out_dir``; a failing
cell stops the run with the notebook and cell named, and its executed notebook (with the traceback) is
still written — it is what a person reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.config import LabConfig
from labkit.errors import LabkitError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL_NAME = "python3"  # jupyter_client runs it with this interpreter: the venv's ipykernel
CELL_TIMEOUT_S = 600


class NotebookFailedError(LabkitError):
    """A notebook cell raised; says which notebook and cell, and where the executed notebook is."""

    def __init__(self, notebook: str, cell_index: int, ename: str, evalue: str, output: Path) -> None:
        super().__init__(
            f"{notebook}: cell {cell_index} raised {ename}: {evalue}\n"
            f"the executed notebook with the traceback: {output} (and {output.with_suffix('.html')})"
        )
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output = output


@dataclass
class NotebookRun:
    name: str
    output: Path
    html: Path
    seconds: float


@dataclass
class WorkbookRun:
    runs: list[NotebookRun] = field(default_factory=list)
    seconds: float = 0.0
    lab_started: bool = False


def workbook_notebooks(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """NN_verb_object.ipynb, in the order of their prefixes."""
    return sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))


def run_workbook(
    config: LabConfig | None = None,
    out_dir: Path = Path("out") / "notebooks",
    *,
    names: Iterable[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    on_notebook: Callable[[str], None] | None = None,
    export_html: bool = True,
) -> WorkbookRun:
    """Run the notebooks (all, or those whose name starts with one of ``names``) against the local lab.

    ``parameters`` are injected into each notebook that declares them in its ``parameters`` cell, besides
    ``TARGET="local"`` and ``OUT_DIR``.
    """
    from labkit.local import control
    from labkit.workbook import workbook_config
    from labkit.workbook.common import paced

    config = paced(config) if config is not None else workbook_config("local")
    if config.target != "local":
        raise LabkitError("the workbook runner runs against the local target; on AWS open the notebooks")
    selected = [
        p for p in workbook_notebooks(notebooks_dir) if names is None or p.stem.startswith(tuple(names))
    ]
    if not selected:
        raise LabkitError(f"no notebook in {notebooks_dir} matches {sorted(names or [])}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    injected = {"TARGET": "local", "OUT_DIR": str(out_dir), **(parameters or {})}
    result = WorkbookRun()
    started = time.monotonic()
    _, result.lab_started = control.up(config)
    try:
        with kernel_environment(config):
            for notebook in selected:
                if on_notebook:
                    on_notebook(notebook.stem)
                result.runs.append(run_notebook(notebook, out_dir, injected, export_html=export_html))
    finally:
        if result.lab_started:
            control.down(config)
        result.seconds = time.monotonic() - started
    return result


def run_notebook(
    notebook: Path, out_dir: Path, parameters: Mapping[str, Any], *, export_html: bool = True
) -> NotebookRun:
    """Execute one notebook with papermill; raise NotebookFailedError naming the cell that failed."""
    import papermill

    output = out_dir / notebook.name
    declared = declared_parameters(notebook)
    started = time.monotonic()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={k: v for k, v in parameters.items() if k in declared},
            kernel_name=KERNEL_NAME,
            cwd=str(notebook.parent),
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT_S,
        )
    except papermill.PapermillExecutionError as exc:
        if export_html:
            export_notebook_html(output)
        raise NotebookFailedError(notebook.stem, exc.cell_index, exc.ename, exc.evalue, output) from exc
    html = export_notebook_html(output) if export_html else output.with_suffix(".html")
    return NotebookRun(notebook.stem, output, html, time.monotonic() - started)


def declared_parameters(notebook: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def export_notebook_html(notebook: Path) -> Path:
    """The executed notebook as a standalone HTML page (images inline), beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


@contextmanager
def kernel_environment(config: LabConfig) -> Iterator[None]:
    """The whole config as LABKIT_* variables while kernels start, so each one sees this lab."""
    from labkit.local.control import config_env

    wanted = config_env(config)
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


__all__ = [
    "NotebookFailedError",
    "NotebookRun",
    "WorkbookRun",
    "declared_parameters",
    "export_notebook_html",
    "run_notebook",
    "run_workbook",
    "workbook_notebooks",
]
