"""Shared harnesses live in helper modules (tests/support/, or a tier's own helpers such as
tests/infra/pulumi_harness.py), never in test files: no file under tests/ imports a test_*.py module or a
conftest.py, by package path, by bare name (pytest puts a test's folder on sys.path) or through
``pytest_plugins``. Importing a test module runs its tests' module code twice and ties one test to another's
internals; that is how the harnesses ended up inside test_pipeline_core and its neighbours (issue 16)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _candidates(module: str, source: Path, tests: Path) -> list[Path]:
    """The files ``module`` may load from ``source``: a dotted path from the repository root, or a bare name
    from the importing file's folder or from tests/ (both on sys.path under pytest's rootdir import mode)."""
    parts = module.split(".")
    roots = [tests.parent] + ([source.parent, tests] if len(parts) == 1 else [])
    return [root.joinpath(*parts).with_suffix(".py") for root in roots]


def _imported(source: Path, tests: Path) -> list[tuple[int, str]]:
    """(line, module) for every module ``source`` imports, wherever in the file, and its pytest_plugins."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importing file's package
                base = source.parent
                for _ in range(node.level - 1):
                    base = base.parent
                prefix = ".".join(base.relative_to(tests.parent).parts)
                module = ".".join(p for p in (prefix, node.module or "") if p)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]  # a module by name
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins" for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            found += [(node.lineno, name) for name in ([value] if isinstance(value, str) else value)]
    return found


def forbidden_imports(tests: Path) -> list[str]:
    """Every import of a test module or a conftest under ``tests``, as ``file:line -> module file``."""
    problems = []
    for source in sorted(tests.rglob("*.py")):
        for line, module in _imported(source, tests):
            for target in _candidates(module, source, tests):
                if target.is_file() and (target.name.startswith("test_") or target.name == "conftest.py"):
                    where = source.relative_to(tests.parent)
                    problems.append(f"{where}:{line} -> {target.relative_to(tests.parent)}")
    return sorted(set(problems))


def test_no_file_under_tests_imports_a_test_module_or_a_conftest(tmp_path: Path) -> None:
    # GIVEN a tree that imports test modules every way the suite could (the check must be able to fail)
    tree = tmp_path / "tests"
    for name in ("conftest.py", "unit/test_a.py", "unit/helpers.py", "support/model.py", "infra/test_c.py"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    (tree / "unit/test_b.py").write_text(
        "from tests.unit.test_a import x\nimport tests.unit.test_a\nfrom tests.unit import test_a\n"
        "from tests.conftest import y\nfrom .test_a import z\nfrom tests.support.model import ok\n"
        "pytest_plugins = ['tests.unit.test_a']\n"
        "def f():\n    from tests.unit.helpers import fine\n    from test_a import w\n"
    )
    (tree / "infra/test_d.py").write_text("from test_c import run\nimport helpers\n")
    assert {p.split(" -> ")[0] for p in forbidden_imports(tree)} == {
        "tests/infra/test_d.py:1",
        "tests/unit/test_b.py:1",
        "tests/unit/test_b.py:2",
        "tests/unit/test_b.py:3",
        "tests/unit/test_b.py:4",
        "tests/unit/test_b.py:5",
        "tests/unit/test_b.py:7",
        "tests/unit/test_b.py:10",
    }
    # THEN the real tests/ has none: shared harnesses come from helper modules
    assert forbidden_imports(TESTS) == []
