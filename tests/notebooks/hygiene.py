"""What a workbook notebook may contain: a lesson, one ``parameters`` cell, then one labkit call per cell.

Logic belongs in labkit, where it is tested: a cell with a definition, a loop, a branch or a second call
is reported, with the notebook and the cell index.
"""

from __future__ import annotations

import ast
from typing import Any

# Definitions, loops (comprehensions are loops), branches and error handling: labkit's job, not a cell's.
FORBIDDEN: dict[type[ast.AST], str] = {
    ast.FunctionDef: "def",
    ast.AsyncFunctionDef: "async def",
    ast.ClassDef: "class",
    ast.Lambda: "lambda",
    ast.For: "for loop",
    ast.AsyncFor: "for loop",
    ast.While: "while loop",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.If: "if",
    ast.IfExp: "conditional expression",
    ast.Try: "try",
    ast.With: "with",
}
ALLOWED_IMPORTS = ("labkit",)
DISPLAY_CALLS = {"display"}


def _call_name(call: ast.Call) -> str:
    node = call.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def cell_problems(source: str) -> list[str]:
    """Problems of one code cell (empty when it is fine)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"syntax error: {exc.msg}"]
    problems = []
    for node in ast.walk(tree):
        for kind, label in FORBIDDEN.items():
            if isinstance(node, kind):
                problems.append(f"{label} at line {getattr(node, 'lineno', '?')}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if not (module or "").startswith(ALLOWED_IMPORTS):
                problems.append(f"import of {module}: notebooks import labkit only")
    calls = [
        _call_name(n)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _call_name(n) not in DISPLAY_CALLS
    ]
    if len(calls) > 1:
        problems.append(f"{len(calls)} calls ({', '.join(calls)}): one labkit call per cell")
    if any(not name.startswith(("workbook.", "dashboard.")) for name in calls):
        problems.append(f"call of {calls[0]}: cells call labkit (workbook., dashboard.) only")
    return problems


def notebook_problems(nb: Any) -> list[str]:
    """Problems of a whole notebook, each prefixed with its cell index."""
    problems = []
    cells = nb["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"expected one cell tagged 'parameters', found {len(tagged)}")
    else:
        params = cells[tagged[0]]
        if 'TARGET = "local"' not in params["source"]:
            problems.append(f'cell {tagged[0]}: the parameters cell must set TARGET = "local"')
        if any(c["cell_type"] == "code" for c in cells[: tagged[0]]):
            problems.append("code before the parameters cell")
    if not cells or cells[0]["cell_type"] != "markdown":
        problems.append("the notebook must open with its lesson (a markdown cell)")
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            problems.append(f"cell {i}: committed with outputs (clear them)")
        if i in tagged:
            problems.extend(f"cell {i}: {p}" for p in _parameter_problems(cell["source"]))
            continue
        problems.extend(f"cell {i}: {p}" for p in cell_problems(cell["source"]))
    return problems


def _parameter_problems(source: str) -> list[str]:
    """Plain assignments of literals only: papermill replaces them, nothing else may hide there."""
    problems = []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            problems.append(f"parameters cell: only NAME = literal, found {ast.dump(node)[:60]}")
    return problems
