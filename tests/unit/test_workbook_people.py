"""What notebook 40 tells a person: the wait's bar has a real total, the backups table explains a PARTIAL file.

No lab here: the bar is a real tqdm bar written to a buffer, the tables are the formatting layer's."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st

from labkit.backup import table as t
from labkit.workbook.backups import BytesBar, backups_table
from labkit.workbook.common import progress


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
