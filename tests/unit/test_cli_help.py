"""Help texts reflow: typer turns docstrings into help, and rich keeps a paragraph's hard line breaks, so
a docstring wrapped at 110 columns prints as ragged lines in an 80-column terminal. Every command's help
and every option's help has its breaks between paragraphs only."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from labkit.cli.app import app


def commands(command: Any, path: str = "labkit") -> Iterator[tuple[str, Any]]:
    """The command and every command under it (typer builds on its own copy of click: duck-typed here)."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, f"{path} {name}")


def paragraphs_with_breaks(text: str) -> list[str]:
    return [p for p in text.strip().split("\n\n") if "\n" in p.strip() and not p.lstrip().startswith("\b")]


def test_no_help_text_breaks_a_line_mid_paragraph() -> None:
    found = list(commands(typer.main.get_command(app)))
    assert len(found) > 20  # every command and group, not just the top
    broken = []
    for path, command in found:
        broken += [f"{path}: {p[:60]!r}" for p in paragraphs_with_breaks(command.help or "")]
        for param in command.params:
            broken += [
                f"{path} {param.name}: {p[:60]!r}"
                for p in paragraphs_with_breaks(getattr(param, "help", "") or "")
            ]
    assert broken == []


def test_help_reflows_to_the_terminal_width() -> None:
    # WHEN verify's help (three paragraphs of prose) is printed 60 columns wide
    result = CliRunner().invoke(app, ["verify", "--help"], env={"COLUMNS": "60", "TERM": "dumb"})
    assert result.exit_code == 0
    prose = result.output.split("╭")[0]
    paragraphs = [
        [line.strip() for line in p.splitlines() if line.strip()] for p in re.split(r"\n\s*\n", prose)
    ]
    paragraphs = [p for p in paragraphs if p and not p[0].startswith("Usage")]
    assert len(paragraphs) >= 3
    width = max(len(line) for p in paragraphs for line in p)
    # THEN every line is filled: the next line's first word would not have fitted on it (a paragraph
    # broken where the docstring broke has lines that stop early)
    early = [
        line
        for p in paragraphs
        for line, after in itertools.pairwise(p)
        if len(line) + 1 + len(after.split()[0]) <= width
    ]
    assert early == []
