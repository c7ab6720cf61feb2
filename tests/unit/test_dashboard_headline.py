"""The headline card says at a glance whether everything is backed up: LOST and FAILED in their colours when
not zero, the lag and the oldest uncopied byte against the retention, the compression, the alarms; the same
figures in plain text for papermill and the CLI, and as numbers for the recorded values."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.dashboard import headline
from labkit.dashboard.palette import ORANGE, RED
from labkit.dashboard.state import parts_frame, state_frame
from tests.unit.dashboard_items import NOW, item, ms


def parts(*sizes: tuple[int, int]) -> pd.DataFrame:
    rows = [
        (
            {"Key": PartKey("audit-logs", "c-1", "db-1", "2026-11-26", f"f{n}").key(1), "Size": gz},
            {"source-start": "0", "source-end": str(source)},
        )
        for n, (source, gz) in enumerate(sizes)
    ]
    return parts_frame(rows)


def test_all_backed_up_reads_as_one_green_sentence() -> None:
    # GIVEN two files, every byte in S3 at 10x, the alarms quiet
    state = state_frame(
        [
            item("db-1", "a", t.BACKED_UP, 20_000_000, 20_000_000, written_ago_s=60, caught_up_after_s=6),
            item("db-1", "b", t.BACKED_UP, 4_700_000, 4_700_000, written_ago_s=30, caught_up_after_s=6),
        ],
        now=NOW,
    )
    card = headline(state, parts((20_000_000, 2_000_000), (4_700_000, 470_000)), 24, {"lag": "OK"}, NOW)
    # THEN the verdict and the figures are the ones the issue asks for
    assert card.ok and card.verdict == "All backed up: 2 files, 24.7 MB in S3, 0 lost"
    text = repr(card)
    assert "10.0x" in text and "24.7 MB -> 2.5 MB gzip" in text
    assert "6.0 s" in text and "nothing pending" in text and "0 of 1 firing" in text
    assert "every byte seen is in S3 (retention 24.0 h)" in text
    # AND neither LOST nor FAILED is coloured while zero
    html = card._repr_html_()
    assert RED not in html and ORANGE not in html
    assert card.values["bytes_backed_up"] == 24_700_000 and card.values["compression_ratio"] == 10.0


def test_lost_is_red_failed_orange_and_a_firing_alarm_is_named() -> None:
    state = state_frame(
        [
            item("db-1", "a", t.LOST, 900, 0, written_ago_s=90, vanished_at=ms(NOW), lost_bytes=900),
            item("db-1", "b", t.FAILED, 100, 0, written_ago_s=13 * 3600),
        ],
        now=NOW,
    )
    card = headline(state, parts(), 24, {"files-lost": "ALARM", "lag": "OK"}, NOW)
    assert not card.ok
    assert card.verdict == "Needs attention: 1 LOST, 1 FAILED, 1 alarm(s) firing"
    tiles = {tile.label: tile for tile in card.tiles}
    assert tiles["LOST"].color == RED and tiles["LOST"].detail == "900 B gone before a copy"
    assert tiles["FAILED"].color == ORANGE
    assert tiles["alarms"].figure == "1 firing" and tiles["alarms"].detail == "files-lost"
    # the FAILED file's bytes have waited 13 h of 24: past half the retention, orange
    assert tiles["oldest uncopied byte"].figure == "13.0 h"
    assert tiles["oldest uncopied byte"].color == ORANGE
    assert f"color:{RED}" in card._repr_html_()


def test_bytes_past_the_retention_are_red_even_with_nothing_lost_yet() -> None:
    state = state_frame([item("db-1", "a", t.PARTIAL, 100, 10, written_ago_s=25 * 3600)], now=NOW)
    card = headline(state, parts(), 24, None, NOW + timedelta(seconds=0))
    assert not card.ok
    tiles = {tile.label: tile for tile in card.tiles}
    assert tiles["oldest uncopied byte"].color == RED
    assert tiles["alarms"].detail == "not evaluated here"


def test_an_empty_lab_has_a_card_too() -> None:
    card = headline(state_frame([]), parts(), 24, {}, NOW)
    assert card.verdict.startswith("All backed up: 0 files")
    assert "no part in S3 yet" in repr(card)


def test_files_still_growing_with_every_byte_copied_are_not_called_backed_up() -> None:
    # GIVEN a sealed file backed up and an active one whose every byte so far is in S3
    state = state_frame(
        [
            item("db-1", "a", t.BACKED_UP, 3_300_000, 3_300_000, written_ago_s=60, caught_up_after_s=4),
            item("db-1", "b", t.PARTIAL, 300_000, 300_000, written_ago_s=10, caught_up_after_s=4),
        ],
        now=NOW,
    )
    card = headline(state, parts(), 24, {}, NOW)
    assert card.ok
    assert card.verdict == (
        "Every byte seen is in S3: 3.6 MB from 2 files (1 sealed and backed up, 1 still growing), 0 lost"
    )
