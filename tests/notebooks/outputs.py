"""What an executed workbook notebook may show a person: no number in scientific notation in a table, no
dict or Python repr as a cell's output, no table pandas drew by itself (sizes in raw bytes, ``NaN``: the
formatting layer, ``labkit.dashboard.table``, shows it for people), and (50, 60, 80) the headline card above
the first chart.

Checked on the executed .ipynb (what the HTML export is made from): ``text/html`` table cells, and the
``text/plain`` of outputs that have nothing richer (a figure's ``<Figure size ...>`` stands beside its PNG).
"""

from __future__ import annotations

import html
import re
from typing import Any

SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?[eE][-+]?\d+\b")
REPRS = (
    re.compile(r"^\s*[\[(]?\{['\"]"),  # a dict, or a list of dicts
    re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>"),  # object.__repr__
    re.compile(r"^\s*[A-Z]\w*\(\w+="),  # a dataclass's repr
)
HEADLINE = 'class="labkit-headline"'
RAW_FRAME = re.compile(r'<table[^>]*class="[^"]*\bdataframe\b')  # DataFrame._repr_html_, not a Styler
WITH_CARD = ("50", "60", "80")  # the notebooks that open with the headline card
CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def table_cells(markup: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in CELL.findall(markup)]


def output_problems(nb: Any) -> list[str]:
    """Each problem names the cell (its index in the executed notebook) and what it showed."""
    problems = []
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") not in ("execute_result", "display_data"):
                continue
            if "text/html" in data:
                if RAW_FRAME.search(_text(data["text/html"])):
                    problems.append(f"cell {index}: a raw DataFrame (show it with labkit.dashboard.table)")
                bad = [c for c in table_cells(_text(data["text/html"])) if SCIENTIFIC.search(c)]
                if bad:
                    problems.append(f"cell {index}: scientific notation in a table: {bad[:3]}")
            plain = _text(data.get("text/plain", ""))
            if plain and not {"text/html", "image/png"} & set(data):
                if any(r.search(plain) for r in REPRS):
                    problems.append(f"cell {index}: a dict or repr as output: {plain[:80]!r}")
                elif SCIENTIFIC.search(plain):
                    problems.append(f"cell {index}: scientific notation: {plain[:80]!r}")
            elif plain and any(r.search(plain) for r in REPRS[:2]):
                problems.append(f"cell {index}: a dict or repr as text output: {plain[:80]!r}")
    return problems


def headline_cell(nb: Any) -> int | None:
    """The index of the first cell whose output is the headline card."""
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if HEADLINE in _text(output.get("data", {}).get("text/html", "")):
                return index
    return None


def acceptance_problems(name: str, nb: Any) -> list[str]:
    """Issue 19's acceptance for one executed notebook (``name``: its file stem, ``50_inspect_backup_state``):
    :func:`output_problems`, and in 50, 60 and 80 the headline card, above every chart."""
    problems = [f"{name}: {p}" for p in output_problems(nb)]
    if name[:2] not in WITH_CARD:
        return problems
    card = headline_cell(nb)
    charts = [
        i
        for i, cell in enumerate(nb["cells"])
        for o in cell.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    if card is None:
        problems.append(f"{name}: no headline card")
    elif charts and card > min(charts):
        problems.append(f"{name}: the headline card (cell {card}) is below a chart (cell {min(charts)})")
    return problems
