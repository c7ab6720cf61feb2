"""``make lab``'s steps print short tables: the local runtime's counters and the reconciliation, with a
problem in red, instead of the raw JSON the runtime answers."""

from __future__ import annotations

from rich.console import Console

from labkit.ops.lab import reconciliation_table, runtime_table

STATS = {
    "running": True,
    "scanner": {
        "invocations": 12,
        "errors": 0,
        "items": 0,
        "item_failures": 0,
        "last_error": "",
        "last_invoked_at": 1.0,
    },
    "downloader": {
        "invocations": 30,
        "errors": 1,
        "items": 41,
        "item_failures": 2,
        "last_error": "ThrottlingException: Rate exceeded",
        "last_invoked_at": 2.0,
    },
    "stream": {"on_failure_sent": 0, "shards": 1, "records_read": 55, "records_filtered": 14},
}
SUMMARY = {
    "files": 6,
    "source_bytes": 24_718_533,
    "backed_up_bytes": 24_718_533,
    "compressed_bytes": 2_400_000,
    "pending_bytes": 0,
    "missing_files": 0,
    "missing_bytes": 0,
    "duplicated_files": 0,
    "duplicated_bytes": 0,
    "lost_files": 1,
    "lost_bytes": 900,
    "failed_files": 0,
    "gaps": 1,
    "unacknowledged_gaps": 0,
}


def render(table: object) -> tuple[str, str]:
    console = Console(record=True, width=120, color_system="standard")
    console.print(table)
    return console.export_text(clear=False), console.export_text(styles=True)


def test_the_runtime_counters_are_one_row_per_function() -> None:
    text, styled = render(runtime_table(STATS))
    assert "scanner" in text and "downloader" in text and "running" not in text
    assert "ThrottlingException: Rate exceeded" in text
    assert "55 records read, 14 filtered out" in text
    assert "{" not in text
    assert "\x1b[31m" in styled  # the downloader's row, with errors, is red


def test_the_reconciliation_reads_in_megabytes_with_the_lost_file_in_red() -> None:
    text, styled = render(reconciliation_table(SUMMARY))
    assert "24.7 MB (2.4 MB gzip)" in text and "1 (900 B)" in text and "0 of 1" in text
    red = [line for line in styled.splitlines() if "\x1b[31m" in line]
    assert len(red) == 1 and "LOST files" in red[0]
