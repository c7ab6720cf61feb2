"""labkit.backup.metrics is the one source of metric names: every metric a handler emits is in it, with the
namespace and the ``service`` dimension powertools really writes (what the alarms watch)."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from labkit.backup import metrics as m

HANDLERS = Path(__file__).resolve().parents[2] / "labkit" / "handlers"
FUNCTIONS = ("scanner", "detector", "downloader")


def emitted(function_key: str) -> list[ast.expr]:
    """The name argument of every metric a handler module counts, as written: ``add_metric(name=…)``, and
    ``tally.count(…)`` / ``tally.add(…)`` (labkit.handlers.invocation.Tally, published at the end)."""
    tree = ast.parse((HANDLERS / f"{function_key}.py").read_text())
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        attr = getattr(node.func, "attr", "")
        counted = attr in ("count", "add") and getattr(getattr(node.func, "value", None), "id", "") == "tally"
        if attr == "add_metric" or counted:
            name = next((k.value for k in node.keywords if k.arg == "name"), None)
            names.append(name if name is not None else node.args[0])
    return names


def resolved(expr: ast.expr) -> str:
    """A literal as is; ``m.FILES_LOST`` / ``metrics.FILES_LOST`` / ``FILES_LOST`` looked up in metrics.py."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    attribute = expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", "")
    value = getattr(m, attribute, None)
    assert isinstance(value, str), f"{ast.unparse(expr)} is no name defined in labkit/backup/metrics.py"
    return value


def serialized(function_key: str, name: str) -> dict[str, Any]:
    """What the handler's own powertools Metrics writes (EMF) for one metric."""
    metrics = importlib.import_module(f"labkit.handlers.{function_key}").metrics
    metrics.clear_metrics()
    try:
        metrics.add_metric(name=name, unit=m.METRICS[name].unit, value=1)
        return dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_metrics()


@pytest.mark.parametrize("function_key", FUNCTIONS)
def test_every_metric_a_handler_emits_is_defined_in_metrics_py(function_key: str) -> None:
    names = [resolved(expr) for expr in emitted(function_key)]
    assert names, f"no add_metric call found in {function_key}.py: the scan of the handler is broken"
    unknown = [n for n in names if n not in m.METRICS]
    assert unknown == []
    wrong_emitter = [n for n in names if function_key not in m.emitters(n)]
    assert wrong_emitter == [], "metrics.py says another function emits these"


@pytest.mark.parametrize("function_key", FUNCTIONS)
def test_handlers_write_the_namespace_and_service_dimension_metrics_py_names(
    function_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the service name the stack sets (POWERTOOLS_SERVICE_NAME = the function key)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", function_key)
    name = m.METRICS[resolved(emitted(function_key)[0])].name
    # WHEN the handler's Metrics object serializes one metric
    emf = serialized(function_key, name)
    # THEN CloudWatch gets exactly metrics.py's namespace and dimensions
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == m.NAMESPACE
    assert directive["Dimensions"] == [list(m.dimensions(function_key))]
    assert {k: emf[k] for k in m.dimensions(function_key)} == m.dimensions(function_key), json.dumps(emf)


def test_every_defined_metric_is_emitted_by_known_functions_with_a_powertools_unit() -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    units = {u.value for u in MetricUnit}
    for spec in m.METRICS.values():
        assert spec.unit in units, spec
        assert spec.emitted_by and set(spec.emitted_by) <= set(m.SERVICES), spec


@pytest.mark.parametrize("function_key", ["scanner", "detector", "downloader"])
def test_handlers_name_metrics_by_the_constants_and_emit_all_metrics_py_assigns_them(
    function_key: str,
) -> None:
    exprs = emitted(function_key)
    literals = [e.value for e in exprs if isinstance(e, ast.Constant)]
    assert literals == [], "string literals: a typo here is an alarm that never fires"
    names = {resolved(e) for e in exprs}
    expected = {n for n, spec in m.METRICS.items() if function_key in spec.emitted_by}
    assert names == expected
