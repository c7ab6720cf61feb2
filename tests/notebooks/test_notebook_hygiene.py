"""Every workbook notebook is a lesson plus one labkit call per cell, and the checker catches what is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from hygiene import cell_problems, notebook_problems
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.workbook.run import workbook_notebooks

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = [
    "00_prerequisites",
    "10_deploy_ecr_stack",
    "20_build_and_push_images",
    "30_deploy_lab_stack",
    "40_generate_audit_traffic",
    "50_inspect_backup_state",
    "60_verify_backups",
    "70_lambda_versioning",
    "80_audit_analytics_and_cost",
    "85_search_the_archive",
    "90_cleanup",
]
NOTEBOOKS = workbook_notebooks(ROOT / "notebooks")


def test_the_workbook_has_every_step_in_order() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_lesson_with_parameters_and_one_call_per_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert notebook_problems(nb) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    return 1", "def"),
        ("class A:\n    pass", "class"),
        ("for x in workbook.versions(TARGET):\n    display(x)", "for loop"),
        ("while True:\n    workbook.tick(TARGET)", "while loop"),
        ('if TARGET == "aws":\n    workbook.cleanup(TARGET)', "if"),
        ("f = lambda: workbook.cleanup(TARGET)", "lambda"),
        ("[workbook.cleanup(t) for t in TARGETS]", "comprehension"),
        ("state = workbook.inspect_backup_state(TARGET)\nworkbook.verify_backups(TARGET)", "2 calls"),
        ("import os", "import of os"),
        ("print(TARGET)", "cells call labkit"),
    ],
)
def test_logic_in_a_cell_is_reported(source: str, expected: str) -> None:
    assert any(expected in problem for problem in cell_problems(source)), cell_problems(source)


def test_one_call_and_its_display_pass() -> None:
    assert cell_problems("state = workbook.inspect_backup_state(TARGET)\nstate") == []
    assert cell_problems("verification.chart") == []
    assert cell_problems('display(workbook.record("x", values, OUT_DIR))') == []


def test_a_notebook_without_parameters_cell_or_with_outputs_is_reported() -> None:
    code = new_code_cell("workbook.cleanup(TARGET)")
    code.outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb = new_notebook(cells=[new_markdown_cell("# lesson"), code])
    problems = notebook_problems(nb)
    assert any("parameters" in p for p in problems)
    assert any("outputs" in p for p in problems)


def _executed(*outputs: dict) -> dict:  # type: ignore[type-arg]
    cell = new_code_cell("workbook.cleanup(TARGET)")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return new_notebook(cells=[new_markdown_cell("# lesson"), cell])


def _result(data: dict) -> dict:  # type: ignore[type-arg]
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": data}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text/html": "<table><tr><td>1.343929e+04</td></tr></table>", "text/plain": "x"}, "scientific"),
        ({"text/plain": "{'audit_bytes_per_day': 395754941860.46515}"}, "dict or repr"),
        ({"text/plain": "[{'a': 1}]"}, "dict or repr"),
        ({"text/plain": "<labkit.workbook.common.Chart object at 0x7f0b86b71e00>"}, "dict or repr"),
        ({"text/plain": "AuditArchive(engine=DuckEngine(), since=...)"}, "dict or repr"),
        ({"text/plain": "5.0e-05"}, "scientific"),
        (
            {"text/html": '<table border="1" class="dataframe"><tr><td>24718533</td></tr></table>'},
            "raw DataFrame",
        ),
    ],
)
def test_the_output_checker_reports_what_a_person_should_not_see(data: dict, expected: str) -> None:  # type: ignore[type-arg]
    from outputs import output_problems

    problems = output_problems(_executed(_result(data)))
    assert len(problems) == 1 and expected in problems[0] and problems[0].startswith("cell 1:")


def test_the_output_checker_passes_readable_tables_cards_and_figures() -> None:
    from outputs import headline_cell, output_problems

    card = '<div class="labkit-headline">All backed up</div>'
    nb = _executed(
        _result(
            {"text/html": "<table><tr><td>24.7 MB</td><td>$0.0000167</td></tr></table>", "text/plain": "t"}
        ),
        _result({"image/png": "iVBOR", "text/plain": "<Figure size 900x400 with 1 Axes>"}),
        _result({"text/html": card, "text/plain": "All backed up: 2 files"}),
        _result(
            {"text/html": '<style>#T_4e0ab td {}</style><table id="T_4e0ab"></table>', "text/plain": "t"}
        ),
    )
    assert output_problems(nb) == []
    assert headline_cell(nb) == 1


def test_the_acceptance_fails_on_a_scientific_number_a_dict_and_a_missing_card() -> None:
    from outputs import acceptance_problems

    # GIVEN an executed 80 whose cost table says 1.343929e+04, whose last cell shows a dict, and no card
    chart = _result({"image/png": "iVBOR", "text/plain": "chart: cost"})
    nb = _executed(
        _result({"text/html": "<table><tr><td>1.343929e+04</td></tr></table>", "text/plain": "t"}),
        chart,
        _result({"text/plain": "{'a': 1}"}),
    )
    # WHEN the acceptance is checked THEN each of the three is reported, with the notebook's name
    problems = acceptance_problems("80_audit_analytics_and_cost", nb)
    assert len(problems) == 3, problems
    assert all(p.startswith("80_audit_analytics_and_cost: ") for p in problems)
    assert "scientific notation" in problems[0] and "1.343929e+04" in problems[0]
    assert "dict or repr" in problems[1] and "{'a': 1}" in problems[1]
    assert problems[2].endswith("no headline card")
    # AND a notebook that needs no card (40) is judged on its outputs alone
    assert len(acceptance_problems("40_generate_audit_traffic", nb)) == 2


def test_the_acceptance_wants_the_card_above_the_first_chart() -> None:
    from outputs import acceptance_problems

    card = _result({"text/html": '<div class="labkit-headline">All backed up</div>', "text/plain": "All"})
    chart = _result({"image/png": "iVBOR", "text/plain": "chart: files by state"})
    above = new_notebook(cells=[_cell(card), _cell(chart)])
    below = new_notebook(cells=[_cell(chart), _cell(card)])
    assert acceptance_problems("50_inspect_backup_state", above) == []
    assert acceptance_problems("50_inspect_backup_state", below) == [
        "50_inspect_backup_state: the headline card (cell 1) is below a chart (cell 0)"
    ]


def _cell(output: dict) -> Any:  # type: ignore[type-arg]
    cell = new_code_cell("workbook.headline(TARGET)")
    cell.outputs = [nbformat.from_dict(output)]
    return cell
