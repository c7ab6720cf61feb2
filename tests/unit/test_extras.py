"""labkit.extras names the extra that installs each optional dependency: the names must be pyproject's."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from labkit.errors import LabkitError, MissingExtraError
from labkit.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[2]


def extra_requirements() -> dict[str, set[str]]:
    """Each extra's distribution names, without versions or their own extras."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {
        extra: {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip() for r in requirements}
        for extra, requirements in extras.items()
    }


@pytest.mark.parametrize(("module", "extra"), sorted(EXTRAS.items()))
def test_each_module_is_installed_by_the_extra_its_error_names(module: str, extra: str) -> None:
    assert module in extra_requirements()[extra]


def test_the_error_says_what_is_missing_and_how_to_install_it() -> None:
    error = MissingExtraError("pandas", "notebooks")
    assert isinstance(error, LabkitError)
    assert str(error) == (
        "pandas is not installed: it comes with labkit's notebooks extra, "
        "install it with `pip install 'labkit[notebooks]'`"
    )


def test_require_turns_an_import_error_into_the_missing_extra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # None in sys.modules: import fails
    with pytest.raises(MissingExtraError) as raised:
        require("duckdb")
    assert (raised.value.module, raised.value.extra) == ("duckdb", "notebooks")
    assert isinstance(raised.value.__cause__, ImportError)


def test_require_returns_an_installed_module() -> None:
    assert require("pandas").__name__ == "pandas"
