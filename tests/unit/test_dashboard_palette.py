"""One palette: LOST red, FAILED orange, BACKED_UP green in every chart, card, table and alarm board,
including the copies kept where the notebook extras cannot be imported."""

from __future__ import annotations

from matplotlib.colors import to_hex

from labkit.backup import table as t
from labkit.dashboard import palette
from labkit.verify.report import reconciliation_figure
from labkit.workbook import alarms


def test_the_states_keep_their_colours() -> None:
    assert palette.STATE_COLORS[t.LOST] == "#d62728"
    assert palette.STATE_COLORS[t.FAILED] == "#ff7f0e"
    assert palette.STATE_COLORS[t.BACKED_UP] == "#2ca02c"


def test_the_alarm_board_uses_the_palette() -> None:
    assert alarms.STATE_COLORS == palette.ALARM_COLORS


def test_the_cli_reconciliation_chart_uses_the_same_state_colours() -> None:
    # GIVEN the verify report's chart (labkit.verify keeps its own copy: the CLI runs without pandas)
    from labkit.verify.judge import FileCheck
    from labkit.verify.reconciliation import Reconciliation

    files = [FileCheck("db-1", state, state, state, 10) for state in palette.STATE_COLORS]
    fig = reconciliation_figure(Reconciliation(files=files))
    drawn = {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in fig.axes[0].containers}
    # THEN every state is drawn, each in the palette's colour
    assert {s: drawn.get(s) for s in palette.STATE_COLORS} == palette.STATE_COLORS
