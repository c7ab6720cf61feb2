"""What notebook 40 shows while and after it waits for the backups: a bar of this wait's bytes, a table.

The bar counts the bytes copied since the wait began against the bytes it has to copy, as far as the
tracking table knows them: before the first scan has seen the new files nothing is known, and the bar
says so (bytes so far, no percentage) instead of sitting at ``0/1 B``. The table after the wait says what
each state means where a person would expect something else: the file an instance is writing now stays
PARTIAL, whatever was copied of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from labkit.backup import table as t
from labkit.dashboard.tables import Table, table
from labkit.workbook.common import COUNTED, MEASURED


class BytesBar:
    """A tqdm bar (``labkit.workbook.common.progress(None, ..., unit="B")``) of one wait's bytes."""

    def __init__(self, bar: Any, copied_before: int) -> None:
        self.bar = bar
        self.copied_before = copied_before

    def show(self, copied: int, pending: int, note: str) -> None:
        """``copied``: bytes in S3 now (every file); ``pending``: bytes the table knows are still to copy."""
        done = max(0, copied - self.copied_before)
        total = done + pending
        if total > 0:
            self.bar.bar_format = MEASURED
            self.bar.total = total
        else:  # nothing known to copy yet (the scan has not listed the new files)
            self.bar.bar_format = COUNTED
            self.bar.total = None
        self.bar.n = done
        self.bar.set_postfix_str(note)  # redraws


def copied_bytes(items: Iterable[Mapping[str, Any]]) -> int:
    return sum(int(i.get("copied_bytes", 0)) for i in items)


def writing_now(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """PARTIAL files an instance may still write to (never sealed, not gone) whose every byte is in S3."""
    return [
        i
        for i in items
        if i.get("state") == t.PARTIAL
        and not i.get("sealed")
        and "vanished_at" not in i
        and int(i.get("copied_bytes", 0)) >= int(i.get("size", 0))
    ]


def backups_table(row: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> Table:
    """The wait's outcome (``labkit.ops.backup.progress_row``), with a sentence for each state a person
    would not expect after "every byte is in S3": PARTIAL, LOST, FAILED."""
    notes = []
    partial = [i for i in items if i.get("state") == t.PARTIAL]
    open_ = writing_now(partial)
    if open_:
        notes.append(
            f"PARTIAL {len(open_)}: the audit file each instance is writing now (the newest one, opened by the "
            "rotation). Every byte written to it so far is in S3, but a file still being written is never "
            "BACKED_UP: it becomes BACKED_UP once a newer file replaces it and it is sealed."
        )
    behind = len(partial) - len(open_)
    if behind:
        notes.append(
            f"PARTIAL {behind}: files with bytes still to copy (the copy goes on in the background)."
        )
    if row.get(t.LOST):
        notes.append(f"LOST {row[t.LOST]}: files deleted on the instance before every byte was copied.")
    if row.get(t.FAILED):
        notes.append(f"FAILED {row[t.FAILED]}: copies that keep failing; `labkit retry-failed` once fixed.")
    title = f"Backups after {row['scans']} scan(s): {row['files']} audit files tracked"
    shown = table(pd.DataFrame([dict(row)]), title=title)
    shown.notes = notes
    return shown
