"""What notebooks 40 and 50 tell a person: the wait's bar has a real total, the backups table explains a
PARTIAL file, and the alarm panel speaks in seconds and says why backup-lag is high after a restart.

No lab here: the bar is a real tqdm bar written to a buffer, the alarms are labkit.alarms' own rules
evaluated on readings built in the test (what read_local returns), the tables are the formatting layer's."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st

from labkit.alarms import ALARM, LocalReadings, alarm_rules, evaluate
from labkit.backup import table as t
from labkit.config import load_config
from labkit.workbook.alarms import alarm_figure, lag_note, panel_of
from labkit.workbook.backups import BytesBar, backups_table
from labkit.workbook.common import progress

NOW = 1_800_000_000.0  # epoch seconds
CONFIG = load_config(env={})
RULES = alarm_rules(CONFIG)
LAG = next(r for r in RULES if r.key == "backup-lag")


def _bar() -> tuple[BytesBar, io.StringIO]:
    out = io.StringIO()
    raw = progress(None, "bytes backed up", unit="B", file=out)
    raw.mininterval = 0  # every redraw written, so the test sees each state of the bar
    return BytesBar(raw, copied_before=10_000), out


def _last_line(out: io.StringIO) -> str:
    return out.getvalue().split("\r")[-1]


def test_the_wait_bar_shows_no_made_up_total_then_counts_this_waits_bytes() -> None:
    bar, out = _bar()
    # GIVEN nothing the table knows is to copy yet (the scan has not listed the new files)
    bar.show(10_000, 0, "rotating the active audit files")
    # THEN the bar shows the bytes so far, no percentage and no 1-byte total
    assert "%" not in _last_line(out) and "1.00 B" not in out.getvalue()
    # WHEN the scan found 4 KB to copy and 1 KB is in S3
    bar.show(11_000, 3_000, "scan 1: copying")
    # THEN the bar reads 25% of 4 KB, the bytes copied before the wait left out
    assert re.search(r"25%\|.*\| 1\.00k/4\.00k B", _last_line(out)), _last_line(out)
    bar.show(14_000, 0, "scan 1, 0 B pending")
    assert "100%" in _last_line(out) and "4.00k/4.00k" in _last_line(out)
    bar.bar.close()


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)), min_size=1, max_size=20))
def test_the_wait_bar_never_shows_more_done_than_its_total(readings: list[tuple[int, int]]) -> None:
    bar, _ = _bar()
    for copied, pending in readings:
        bar.show(copied, pending, "")
        if bar.bar.total is not None:
            assert 0 <= bar.bar.n <= bar.bar.total
        else:
            assert bar.bar.n == 0 and pending == 0
    bar.bar.close()


def _item(name: str, state: str, size: int, copied: int, sealed: bool) -> dict[str, object]:
    return {"log_file_name": name, "state": state, "size": size, "copied_bytes": copied, "sealed": sealed}


def test_the_backups_table_says_why_the_file_being_written_is_partial() -> None:
    # GIVEN after the wait: two sealed files backed up, and the new active file of each instance all copied
    items = [
        _item("audit.log.1", t.BACKED_UP, 3_000_000, 3_000_000, True),
        _item("audit.log.2", t.BACKED_UP, 500_000, 500_000, True),
        _item("server_audit.log", t.PARTIAL, 1_200, 1_200, False),
        _item("server_audit.log", t.PARTIAL, 900, 900, False),
    ]
    row = {"scans": 1, "seconds": 5.1, "files": 4, t.PARTIAL: 2, t.BACKED_UP: 2, t.LOST: 0, t.FAILED: 0}
    row["bytes backed up"] = 3_502_100
    shown = backups_table(row, items)
    # THEN the table reads in units and the note under it names the two PARTIAL files and what they are
    assert "3.5 MB" in shown._repr_html_() and "3502100" not in shown._repr_html_()
    assert len(shown.notes) == 1
    assert shown.notes[0].startswith("PARTIAL 2: the audit file each instance is writing now")
    assert "BACKED_UP once a newer file replaces it" in repr(shown)
    # AND a PARTIAL file with bytes still to copy is not explained away as the active one
    behind = backups_table(row, [*items[:3], _item("server_audit.log", t.PARTIAL, 900, 100, False)])
    assert [n.split(":")[0] for n in behind.notes] == ["PARTIAL 1", "PARTIAL 1"]


def _copied(written_s: float, caught_up_s: float) -> dict[str, object]:
    """A file copied to its end at ``caught_up_s``, last written at ``written_s`` (epoch seconds)."""
    return {
        "size": 100,
        "copied_bytes": 100,
        "last_written": written_s * 1000,
        "updated_at": caught_up_s * 1000,
    }


def test_the_lag_alarm_reads_in_seconds_as_the_threshold_does() -> None:
    assert alarm_figure(LAG, 2_534_574) == "2,535 s"
    assert alarm_figure(LAG, LAG.threshold) == "1,800 s"
    assert alarm_figure(LAG, 1_900) == "1.9 s"
    age = next(r for r in RULES if r.key == "stream-iterator-age")  # IteratorAge: milliseconds too
    assert alarm_figure(age, 61_000) == "61 s"
    assert alarm_figure(next(r for r in RULES if r.key == "files-lost"), 2) == "2"


def test_after_a_restart_the_panel_says_the_lag_is_the_downtime() -> None:
    # GIVEN a lab started 60 s ago that copied a file last written 2,534 s ago (an earlier run's) and a
    # file of its own 1.9 s after its last write
    started = NOW - 60
    items = [_copied(NOW - 2_534, NOW - 10), _copied(NOW - 20, NOW - 18.1)]
    readings = LocalReadings(now=NOW, items=items, queue_messages={}, runtime=None, started_at=started)
    results = evaluate(RULES, readings)
    lag = next(r for r in results if r.rule.key == "backup-lag")
    assert lag.state == ALARM
    # THEN the status board says it in seconds, beside its threshold
    panel = panel_of(results, [lag_note(LAG, readings) or ""])
    texts = [x.get_text() for ax in panel.chart.figure.axes for x in ax.texts]
    assert "ALARM  2,524 s (threshold 1,800 s)" in texts
    # AND the note explains it: one file caught up late, written before this lab started
    note = panel.notes[0]
    assert note.startswith("backup-lag: 1 file(s) whose copy caught up in the last 5.0 min")
    assert "2,524 s to 2,524 s before" in note
    assert "1 of them last written before this lab started" in note and "--fresh" in note
    # AND without a restart to blame, the note says the pipeline fell behind
    fresh = LocalReadings(now=NOW, items=items, queue_messages={}, runtime=None, started_at=NOW - 9_000)
    assert (lag_note(LAG, fresh) or "").endswith(
        "the pipeline fell behind (see the errors and queue alarms)."
    )


@given(
    st.lists(
        st.tuples(st.floats(0, 20_000), st.floats(0, 1_000)),  # (written before now, caught up before now)
        max_size=8,
    ),
    st.floats(0, 20_000),
)
def test_the_lag_note_is_there_exactly_when_backup_lag_fires(
    files: list[tuple[float, float]], up_s: float
) -> None:
    items = [_copied(NOW - w, NOW - min(c, w)) for w, c in files]
    readings = LocalReadings(now=NOW, items=items, queue_messages={}, runtime=None, started_at=NOW - up_s)
    fires = next(r for r in evaluate(RULES, readings) if r.rule.key == "backup-lag").state == ALARM
    assert (lag_note(LAG, readings) is not None) == fires
