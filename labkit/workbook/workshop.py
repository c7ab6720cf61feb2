"""The workshop's JupyterLab and dashboard page: served from a working copy, so the committed notebooks stay clean.

A learner's outputs, checkpoints and autosaves land in the copy (``out/workshop``, ignored by git), never in
``notebooks/``. The copy opens on the kernel the README names ("Python (labkit)"); its ``OUT_DIR`` points at
``out/notebooks``, where ``make notebooks`` records too. The servers read the committed settings in
``jupyter/`` (no news pop-up, no language-server listing, encrypted kernel channels) and write what they
write (user settings, workspaces, the migration marker) under ``out/jupyter``.

``make jupyter``, ``make workshop-reset`` and ``make dashboard`` call :func:`main`; so does the browser test,
with its own lab, port and copy; ``make screenshots`` turns that test's screenshots into the README's pictures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from labkit.errors import LabkitError
from labkit.workbook.run import NOTEBOOKS_DIR, workbook_notebooks

REPO = NOTEBOOKS_DIR.parent
SETTINGS_DIR = REPO / "jupyter"  # committed: read only (JUPYTER_CONFIG_PATH)
WORKSHOP_DIR = REPO / "out" / "workshop"
RUNTIME_DIR = REPO / "out" / "jupyter"  # what the servers write (JUPYTER_CONFIG_DIR and lab settings)
DASHBOARD = NOTEBOOKS_DIR / "80_audit_analytics_and_cost.ipynb"
KERNEL_NAME = "labkit"
KERNEL_DISPLAY_NAME = "Python (labkit)"
COPY_OUT_DIR = "../notebooks"  # from out/workshop: out/notebooks
_OUT_DIR_LINE = re.compile(r'^OUT_DIR = "[^"]*"', re.MULTILINE)


class WorkshopError(LabkitError):
    """The workshop cannot start (a missing kernel, a copy that cannot be written)."""


def prepare_workshop(dest: Path = WORKSHOP_DIR, *, reset: bool = False) -> list[Path]:
    """Copy the workbook into ``dest``: the notebooks missing there, or all of them with ``reset``.

    A learner's copy is kept as it is unless ``reset`` (which also drops checkpoints and anything else in
    ``dest``). Returns the notebooks written.
    """
    import nbformat

    if reset and dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for source in workbook_notebooks():
        target = dest / source.name
        if target.exists():
            continue
        nb = nbformat.read(source, as_version=4)
        nb.metadata["kernelspec"] = {
            "name": KERNEL_NAME,
            "display_name": KERNEL_DISPLAY_NAME,
            "language": "python",
        }
        for cell in nb.cells:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cell.source = _OUT_DIR_LINE.sub(f'OUT_DIR = "{COPY_OUT_DIR}"', cell.source)
        nbformat.write(nb, target)
        written.append(target)
    readme = NOTEBOOKS_DIR / "README.md"
    if readme.exists() and not (dest / readme.name).exists():
        shutil.copyfile(readme, dest / readme.name)
    return written


def server_environment(base: Mapping[str, str], runtime_dir: Path = RUNTIME_DIR) -> dict[str, str]:
    """``base`` with the workshop's Jupyter settings: committed ones read, written ones under ``runtime_dir``."""
    config_dir = runtime_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    return {
        **base,
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_CONFIG_PATH": str(SETTINGS_DIR),
        # a server extension reads the deprecated ServerApp.token on start; the token itself is honoured
        "PYTHONWARNINGS": "ignore:ServerApp.token config is deprecated:DeprecationWarning",
    }


def _as_root() -> list[str]:
    return ["--allow-root"] if os.geteuid() == 0 else []  # Jupyter refuses root unless told


def jupyter_command(port: int, root_dir: Path = WORKSHOP_DIR, runtime_dir: Path = RUNTIME_DIR) -> list[str]:
    """JupyterLab on loopback with token auth (JUPYTER_TOKEN, or one it makes and prints), serving ``root_dir``."""
    return [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--no-browser",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={runtime_dir / 'lab' / 'user-settings'}",
        f"--LabApp.workspaces_dir={runtime_dir / 'lab' / 'workspaces'}",
        *_as_root(),
    ]


def dashboard_command(port: int, notebook: Path = DASHBOARD) -> list[str]:
    """Voila on loopback: the dashboard notebook's outputs as a page (no code, no way to run other code)."""
    return [
        str(Path(sys.executable).with_name("voila")),
        str(notebook),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
    ]


# out/screenshots/ (the browser test's) -> the README's pictures
README_PICTURES = {
    "dashboard.png": "dashboard.png",
    "jupyterlab-50_inspect_backup_state.png": "jupyterlab-50.png",
    "jupyterlab-80_audit_analytics_and_cost.png": "jupyterlab-80.png",
}
SHOTS_DIR = REPO / "out" / "screenshots"
PICTURES_DIR = REPO / "docs" / "images"


def small_pictures(shots: Path = SHOTS_DIR, dest: Path = PICTURES_DIR, width: int = 1000) -> list[Path]:
    """The README's pictures from the browser test's screenshots: ``width`` px wide, 128 colours (small PNGs
    that stay readable: screenshots are flat colours and text)."""
    from PIL import Image

    missing = [name for name in README_PICTURES if not (shots / name).exists()]
    if missing:
        raise WorkshopError(
            f"no screenshot {', '.join(missing)} in {shots}: run the browser test first "
            "(make screenshots does: pytest tests/notebooks/test_workshop_in_browser.py)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, picture in README_PICTURES.items():
        with Image.open(shots / name) as shot:
            image = shot.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest / picture, optimize=True)
        written.append(dest / picture)
    return written


def check_kernel() -> None:
    """The copy names the labkit kernel: without it JupyterLab would ask the learner to pick one."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise WorkshopError(
            f"no Jupyter kernel named {KERNEL_NAME!r}: run `make kernel` (it installs {KERNEL_DISPLAY_NAME!r} "
            "into the virtualenv)"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labkit.workbook.workshop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    jupyter = sub.add_parser("jupyter", help="prepare the working copy, then serve it with JupyterLab")
    jupyter.add_argument("--port", type=int, default=8888)
    jupyter.add_argument("--dir", type=Path, default=WORKSHOP_DIR, help="the working copy")
    jupyter.add_argument("--runtime-dir", type=Path, default=RUNTIME_DIR, help="what the server writes")
    reset = sub.add_parser(
        "reset", help="replace the working copy with fresh copies of the committed notebooks"
    )
    reset.add_argument("--dir", type=Path, default=WORKSHOP_DIR)
    dashboard = sub.add_parser("dashboard", help="serve the dashboard notebook as a page (Voila)")
    dashboard.add_argument("--port", type=int, default=8866)
    dashboard.add_argument("--runtime-dir", type=Path, default=RUNTIME_DIR)
    pictures = sub.add_parser(
        "pictures", help="make the README's pictures from the browser test's screenshots"
    )
    pictures.add_argument("--from", dest="shots", type=Path, default=SHOTS_DIR)
    pictures.add_argument("--to", dest="dest", type=Path, default=PICTURES_DIR)
    args = parser.parse_args(argv)

    if args.command == "pictures":
        for path in small_pictures(args.shots, args.dest):
            print(f"{path} ({path.stat().st_size // 1024} KB)")
        return

    if args.command == "reset":
        written = prepare_workshop(args.dir, reset=True)
        print(f"{len(written)} notebooks copied fresh into {args.dir}")
        return
    if args.command == "jupyter":
        check_kernel()
        written = prepare_workshop(args.dir)
        kept = len(workbook_notebooks()) - len(written)
        print(
            f"workshop copy: {args.dir} ({len(written)} notebooks copied, {kept} of yours kept; "
            "`make workshop-reset` starts over)",
            flush=True,
        )
        command = jupyter_command(args.port, args.dir.resolve(), args.runtime_dir.resolve())
    else:
        command = dashboard_command(args.port)
    env = server_environment(os.environ, args.runtime_dir.resolve())
    os.execve(command[0], command, env)  # the server replaces this process: its signals reach it directly


if __name__ == "__main__":
    try:
        main()
    except LabkitError as exc:
        sys.exit(f"error: {exc}")
