"""The one palette of the workbook: every chart, card and table colours a state the same way.

LOST is red (audit bytes gone for good), FAILED orange (needs a person), BACKED_UP green; the other states
are blues and purple, so that only what needs attention is loud. ``labkit.verify.report`` keeps a copy for
the CLI (it runs without the notebook extras); tests/unit/test_dashboard_palette.py holds the two equal.
"""

from __future__ import annotations

from labkit.backup import table as t

RED, ORANGE, GREEN, GREY = "#d62728", "#ff7f0e", "#2ca02c", "#7f7f7f"
LIGHT_GREEN = "#98df8a"

STATE_COLORS = {
    t.BACKED_UP: GREEN,
    t.PARTIAL: "#1f77b4",
    t.DETECTED: "#aec7e8",
    t.COPYING: "#9467bd",
    t.LOST: RED,
    t.FAILED: ORANGE,
}
ALARM_STATES = (t.LOST, t.FAILED)
# alarm states (labkit.alarms): firing is red, OK green, no data grey
ALARM_COLORS = {"ALARM": RED, "OK": GREEN, "INSUFFICIENT_DATA": "#bdbdbd"}
