"""The alarm panel of the 50 notebook: the lab stack's alarm rules, evaluated where the target is.

Local: labkit.alarms' rules against the local lab's table, queues and Lambda runtime (labkit.alarms.local,
what ``labkit alarms`` prints). AWS: the state CloudWatch holds for the stack's alarms (labkit.alarms.cloudwatch,
``describe_alarms``). Either way one row per rule and a status board where a firing alarm is red.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from labkit.alarms import (
    ALARM,
    DEFAULT_LAG_THRESHOLD_S,
    INSUFFICIENT,
    OK,
    AlarmResult,
    AlarmRule,
    LocalReadings,
    alarm_rules,
    caught_up,
)
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
    results = evaluate(rules, readings)
    why = [lag_note(r.rule, readings) for r in results if r.rule.local == "lag" and r.state == ALARM]
    return results, [*readings.notes, *(n for n in why if n)]


def lag_note(rule: AlarmRule, readings: LocalReadings) -> str | None:
    """Why backup-lag is above its threshold, from the copies it measured: the files whose copy caught up
    in its window, how long after their last write, and whether that write was before this lab started.

    The alarm's lag is last write -> copy caught up, per file. A file last written before the lab stopped
    and copied after it started again counts the time the lab was down: audit files of earlier runs still
    on the instances' disks (every one of them after ``labkit local up --fresh``, which starts a new archive
    but keeps the instances), or bytes the restored snapshot did not count. The lag chart shows each
    instance's newest file instead, so the two can disagree by hours."""
    from labkit.dashboard.tables import duration, utc_time

    late = [
        (item, lag)
        for item, lag in caught_up(readings.items, (readings.now - rule.window_s) * 1000)
        if lag > rule.threshold
    ]
    if not late:
        return None
    window = duration(rule.window_s)
    lags = [lag / 1000 for _, lag in late]
    head = (
        f"backup-lag: {len(late)} file(s) whose copy caught up in the last {window} had been last written "
        f"{seconds(min(lags))} to {seconds(max(lags))} before"
    )
    started = readings.started_at
    earlier = [i for i, _ in late if started is not None and float(i["last_written"]) < started * 1000]
    if not earlier or started is None:
        return f"{head}: the pipeline fell behind (see the errors and queue alarms)."
    return (
        f"{head}; {len(earlier)} of them last written before this lab started ({utc_time(datetime.fromtimestamp(started, UTC))}): "
        "audit files of an earlier run, still on the instances' disks, copied after the restart (after "
        "`labkit local up --fresh` every such file is copied into the new archive). Their lag counts the time the "
        "lab was down, not a slow copy: the lag chart above shows each instance's newest file. The alarm "
        f"clears by itself once no such copy falls within its {window} window."
    )


def seconds(value_s: float) -> str:
    """A lag as people read the alarm: ``1.9 s``, ``2,534 s`` (the metric itself is in milliseconds)."""
    return f"{value_s:,.1f} s" if value_s < 10 else f"{value_s:,.0f} s"


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


MILLISECOND_METRICS = ("BackupLag", "IteratorAge")  # published in ms; people read their alarms in seconds


def alarm_figure(rule: Any, value: float) -> str:
    """A metric value as people read it: lags in seconds (``2,534 s``), counts as whole numbers."""
    if rule.local == "lag" or any(m.name in MILLISECOND_METRICS for m in rule.metrics):
        return seconds(value / 1000)
    return f"{value:,.0f}"


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
