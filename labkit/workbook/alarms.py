"""The alarm panel of the 50 notebook: the lab stack's alarm rules, evaluated where the target is.

Local: labkit.alarms' rules against the local lab's table, queues and Lambda runtime (labkit.alarms.local,
what ``labkit alarms`` prints). AWS: the state CloudWatch holds for the stack's alarms (labkit.alarms.cloudwatch,
``describe_alarms``). Either way one row per rule and a status board where a firing alarm is red.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labkit.alarms import ALARM, DEFAULT_LAG_THRESHOLD_S, INSUFFICIENT, OK, AlarmResult, alarm_rules
from labkit.config import LabConfig
from labkit.dashboard.palette import ALARM_COLORS, ORANGE
from labkit.workbook.common import Chart, workbook_config

STATE_COLORS = ALARM_COLORS  # one palette (labkit.dashboard.palette)
OTHER_COLOR = ORANGE  # MISSING on AWS: the alarm is not deployed


@dataclass
class AlarmPanel:
    """What the notebook shows: a table (firing rows in red) above the status board."""

    table: pd.DataFrame
    chart: Chart
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _repr_png_(self) -> bytes:
        return self.chart._repr_png_()

    def __repr__(self) -> str:
        firing = self.values.get("firing_alarms") or []
        head = f"{len(firing)} alarm(s) firing: {', '.join(firing)}" if firing else "no alarm firing"
        rows = [
            f"  {row['alarm']:<28} {row['state']:<18} {row['value']}" for row in self.table.to_dict("records")
        ]
        return "\n".join([head, *rows, *self.notes])

    def _repr_html_(self) -> str:
        image = base64.b64encode(self._repr_png_()).decode()
        rows = []
        for row in self.table.to_dict(orient="records"):
            color = STATE_COLORS.get(row["state"], OTHER_COLOR)
            cells = "".join(
                f'<td style="text-align:left">{html.escape(str(row[c]))}</td>' for c in self.table.columns
            )
            rows.append(f'<tr style="color:{color if row["state"] == ALARM else "inherit"}">{cells}</tr>')
        head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in self.table.columns)
        verdict = (
            f'<p style="color:{STATE_COLORS[ALARM]}"><b>{self.values["firing"]} alarm(s) firing: '
            f"{html.escape(', '.join(self.values['firing_alarms']))}</b></p>"
            if self.values.get("firing")
            else f'<p style="color:{STATE_COLORS[OK]}"><b>no alarm firing</b></p>'
        )
        notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in self.notes)
        return (
            f'{verdict}{notes}<img src="data:image/png;base64,{image}"/>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def alarm_panel(target: str = "local", lag_threshold_s: float = DEFAULT_LAG_THRESHOLD_S) -> AlarmPanel:
    """Every alarm of the pipeline and its state now: evaluated on the local lab, or CloudWatch's on AWS."""
    config = workbook_config(target)
    results, notes = alarm_results(config, lag_threshold_s)
    return panel_of(results, notes)


def alarm_results(config: LabConfig, lag_threshold_s: float) -> tuple[list[AlarmResult], list[str]]:
    rules = alarm_rules(config, lag_threshold_s=lag_threshold_s)
    if config.target == "aws":
        from labkit.alarms import read_cloudwatch

        return read_cloudwatch(config, rules)
    from labkit.alarms import evaluate, read_local

    readings = read_local(config)
    return evaluate(rules, readings), list(readings.notes)


def panel_of(results: list[AlarmResult], notes: list[str] | None = None) -> AlarmPanel:
    table = pd.DataFrame(
        [
            {
                "alarm": r.rule.key,
                "state": r.state,
                "value": "-" if r.value is None else alarm_figure(r.rule, r.value),
                "threshold": alarm_figure(r.rule, r.rule.threshold),
                "what it watches": r.rule.title,
                "why": r.reason,
            }
            for r in results
        ]
    )
    firing = [r.rule.key for r in results if r.state == ALARM]
    values = {
        "alarms": len(results),
        "firing": len(firing),
        "firing_alarms": firing,
        "ok": sum(1 for r in results if r.state == OK),
        "insufficient_data": sum(1 for r in results if r.state == INSUFFICIENT),
    }
    return AlarmPanel(table, Chart(status_board(results)), values, list(notes or []))


def alarm_figure(rule: Any, value: float) -> str:
    """A metric value in its unit: the backup lag metric is in milliseconds, shown as a duration."""
    from labkit.dashboard.tables import duration

    return duration(value / 1000) if rule.local == "lag" else f"{value:,.0f}"


def status_board(results: list[AlarmResult]) -> Any:
    """One tile per alarm, coloured by state (red: firing), the state and value written on it."""
    from labkit.dashboard.charts import new_figure

    fig, ax = new_figure(9.0, 0.35 * max(len(results), 1) + 0.8)
    keys = [r.rule.key for r in results][::-1]
    colors = [STATE_COLORS.get(r.state, OTHER_COLOR) for r in results][::-1]
    ax.barh(keys, [1.0] * len(keys), color=colors, height=0.8)
    for y, r in enumerate(results[::-1]):
        value = (
            ""
            if r.value is None
            else f"  {alarm_figure(r.rule, r.value)} (threshold {alarm_figure(r.rule, r.rule.threshold)})"
        )
        ax.text(0.02, y, f"{r.state}{value}", va="center", color="white" if r.state == ALARM else "black")
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    firing = sum(1 for r in results if r.state == ALARM)
    ax.set_title(f"Alarms: {firing} firing of {len(results)}")
    return fig
