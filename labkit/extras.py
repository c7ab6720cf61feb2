"""Optional dependencies, imported when a command needs one: each missing one is one MissingExtraError
that names the extra to install (as papermill's ``missing_dependency_generator`` does).

A ``[lab]`` install runs the CLI without pandas, duckdb or pulumi; a command that needs one calls
:func:`require` before importing the labkit module that uses it, so the user reads which extra to install
instead of an ImportError from deep inside a library. ``EXTRAS`` is the one table of which extra brings
which module (tests/unit/test_extras.py holds it to pyproject's ``[project.optional-dependencies]``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from labkit.errors import MissingExtraError

EXTRAS: dict[str, str] = {
    "pandas": "notebooks",
    "duckdb": "notebooks",
    "papermill": "notebooks",
    "matplotlib": "lab",
    "pulumi": "infra",
}


def require(module: str) -> ModuleType:
    """``module`` imported, or MissingExtraError naming the extra in ``EXTRAS`` that installs it."""
    extra = EXTRAS[module.partition(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.partition(".")[0], extra) from exc
