"""Dependencies point inward: the Lambda code never reaches the dashboards or their notebook-only libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LABKIT = Path(__file__).resolve().parents[2] / "labkit"
NOTEBOOK_ONLY = ("labkit.dashboard", "pandas", "matplotlib")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["handlers", "backup"])
def test_lambda_code_does_not_import_the_dashboards(package: str) -> None:
    files = sorted((LABKIT / package).glob("*.py"))
    assert files
    offending = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith(NOTEBOOK_ONLY)
    }
    assert not offending
