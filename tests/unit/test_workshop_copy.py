"""The workshop's working copy: the committed notebooks copied once, on the labkit kernel, recording to
out/notebooks; a learner's copy kept until a reset; the committed notebooks never written."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from labkit.workbook.run import workbook_notebooks
from labkit.workbook.workshop import (
    KERNEL_DISPLAY_NAME,
    SETTINGS_DIR,
    jupyter_command,
    prepare_workshop,
    server_environment,
)


def _parameters(nb: nbformat.NotebookNode) -> str:
    return next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))


def test_the_copy_opens_on_the_labkit_kernel_and_records_to_out_notebooks(tmp_path: Path) -> None:
    committed = {p.name: p.read_bytes() for p in workbook_notebooks()}
    # WHEN the workshop copy is made
    written = prepare_workshop(tmp_path / "workshop")
    # THEN every notebook is there, on the kernel the README names
    assert sorted(p.name for p in written) == sorted(committed)
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "labkit"
        assert nb.metadata["kernelspec"]["display_name"] == KERNEL_DISPLAY_NAME == "Python (labkit)"
        # AND its recorded values go to out/notebooks (the copy sits in out/workshop)
        assert 'OUT_DIR = "../notebooks"' in _parameters(nb), path.name
        assert (tmp_path / "workshop" / "../notebooks").resolve() == tmp_path / "notebooks"
    # AND the committed notebooks are byte for byte what they were
    assert {p.name: p.read_bytes() for p in workbook_notebooks()} == committed


def test_a_learners_copy_is_kept_until_a_reset(tmp_path: Path) -> None:
    dest = tmp_path / "workshop"
    prepare_workshop(dest)
    mine = dest / "50_inspect_backup_state.ipynb"
    nb = nbformat.read(mine, as_version=4)
    nb.cells[0].source = "my notes"
    nbformat.write(nb, mine)
    (dest / ".ipynb_checkpoints").mkdir()
    # WHEN the workshop starts again THEN the learner's notebook is kept, nothing is rewritten
    assert prepare_workshop(dest) == []
    assert nbformat.read(mine, as_version=4).cells[0].source == "my notes"
    # WHEN it is reset THEN every notebook is fresh and the checkpoints are gone
    assert len(prepare_workshop(dest, reset=True)) == len(workbook_notebooks())
    assert nbformat.read(mine, as_version=4).cells[0].source != "my notes"
    assert not (dest / ".ipynb_checkpoints").exists()


def test_the_server_reads_the_committed_settings_and_writes_under_out(tmp_path: Path) -> None:
    env = server_environment({"PATH": "/usr/bin"}, tmp_path / "jupyter")
    assert env["JUPYTER_CONFIG_PATH"] == str(SETTINGS_DIR)
    assert Path(env["JUPYTER_CONFIG_DIR"]).is_relative_to(tmp_path)
    command = jupyter_command(8888, tmp_path / "workshop", tmp_path / "jupyter")
    assert "--ip=127.0.0.1" in command
    written = [a for a in command if a.startswith(("--LabApp.user_settings_dir", "--LabApp.workspaces_dir"))]
    assert len(written) == 2 and all(str(tmp_path) in a for a in written)
    # the committed settings turn the news pop-up and the language-server listing off
    page = json.loads((SETTINGS_DIR / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True
    server = json.loads((SETTINGS_DIR / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["jupyter_lsp"] is False
    assert server["LabApp"]["news_url"] is None


def test_the_readme_pictures_are_small_copies_of_the_screenshots(tmp_path: Path) -> None:
    from PIL import Image

    from labkit.workbook.workshop import README_PICTURES, WorkshopError, small_pictures

    shots = tmp_path / "shots"
    shots.mkdir()
    # GIVEN no screenshots THEN the error says how to make them
    with pytest.raises(WorkshopError, match="run the browser test first"):
        small_pictures(shots, tmp_path / "images")
    # GIVEN full-size screenshots (noisy, like text on a page)
    for name in README_PICTURES:
        Image.effect_noise((1400, 1000), 60).convert("RGB").save(shots / name)
    # WHEN the pictures are made THEN each is 1000 px wide, in proportion, and a palette PNG
    for picture in small_pictures(shots, tmp_path / "images"):
        with Image.open(picture) as image:
            assert image.size == (1000, 714) and image.mode == "P"
