"""Tracking-table items and S3 listings become frames with the numbers an operator reads: pending bytes,
lag, lost bytes, and the loss risk against the instance's retention."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit.backup import table as t
from labkit.backup.layout import PartKey
from labkit.dashboard.risk import AT_RISK, NOTHING_PENDING, OK, OVERDUE, instance_lag, loss_risk_table
from labkit.dashboard.state import STATE_COLUMNS, parse_part_key, parts_frame, state_frame
from tests.unit.dashboard_items import NOW, item, ms, risk_items


def test_pending_bytes_and_lag_per_file() -> None:
    # GIVEN a file still being copied, one fully copied 30 s after its last write, and one lost
    items = [
        item("db-1", "audit.log.0", t.PARTIAL, 1000, 400, written_ago_s=120),
        item("db-1", "audit.log.1", t.BACKED_UP, 500, 500, written_ago_s=3600, caught_up_after_s=30),
        item(
            "db-2", "audit.log.2", t.LOST, 900, 100, written_ago_s=7200, vanished_at=ms(NOW), lost_bytes=800
        ),
    ]
    # WHEN the frame is built
    frame = state_frame(items, now=NOW).set_index("file_id")
    # THEN pending bytes are what is still on the instance and not in S3; a lost file has none pending
    assert frame["pending_bytes"].to_dict() == {"audit.log.0": 600, "audit.log.1": 0, "audit.log.2": 0}
    assert frame.loc["audit.log.2", "lost_bytes"] == 800
    # the lag of a file with pending bytes is the age of its last write; otherwise how long the copy took
    assert frame.loc["audit.log.0", "lag_s"] == pytest.approx(120)
    assert frame.loc["audit.log.1", "lag_s"] == pytest.approx(30)
    assert (
        isinstance(frame["last_written"].dtype, pd.DatetimeTZDtype)
        and str(frame["last_written"].dt.tz) == "UTC"
    )
    assert frame.loc["audit.log.2", "vanished_at"] == pd.Timestamp(NOW)
    assert pd.isna(frame.loc["audit.log.0", "vanished_at"])


def test_an_empty_table_gives_an_empty_frame_with_every_column() -> None:
    frame = state_frame([], now=NOW)
    assert list(frame.columns) == STATE_COLUMNS and frame.empty
    assert loss_risk_table(frame, 24).empty


def test_part_keys_are_read_back_as_the_layout_writes_them() -> None:
    # GIVEN a key the downloader would write for an rds-mysql file id (a '/' and an '@' in it)
    key = PartKey("audit-logs", "c-1", "db-1", "2026-11-26", "audit/server_audit.log@0123456789abcdef").key(3)
    # THEN the key gives back the instance, cluster, date, file id and part number
    assert parse_part_key(key) == {
        "cluster_id": "c-1",
        "instance_id": "db-1",
        "date": "2026-11-26",
        "file_id": "audit/server_audit.log@0123456789abcdef",
        "part": 3,
    }
    assert parse_part_key("audit-logs/README.txt") is None
    # AND part numbers past 99,999 (more digits) are read too
    assert (
        parse_part_key(PartKey("audit-logs", "c-1", "db-1", "2026-11-26", "f").key(123_456))["part"]
        == 123_456
    )  # type: ignore[index]


def test_parts_frame_takes_the_source_range_from_metadata() -> None:
    key = PartKey("audit-logs", "c-1", "db-1", "2026-11-26", "audit.log.0").key(1)
    listing = [
        (
            {"Key": key, "Size": 50, "LastModified": NOW},
            {"source-start": "0", "source-end": "1000", "source-last-written": str(ms(NOW))},
        ),
        ({"Key": "audit-logs/not-a-part", "Size": 1, "LastModified": NOW}, {}),
    ]
    frame = parts_frame(listing)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["source_bytes"], row["compressed_bytes"], row["part"]) == (1000, 50, 1)
    assert row["source_last_written"] == pd.Timestamp(NOW)


def test_loss_risk_compares_time_left_with_the_current_lag() -> None:
    frame = state_frame(risk_items(), now=NOW)
    risk = loss_risk_table(frame, retention_hours=24, now=NOW).set_index("instance_id")
    assert risk["status"].to_dict() == {
        "db-idle": NOTHING_PENDING,
        "db-ok": OK,
        "db-over": OVERDUE,
        "db-risk": AT_RISK,
    }
    assert risk.loc["db-risk", "oldest_uncopied_file"] == "b"
    assert risk.loc["db-risk", "time_to_eviction_s"] == pytest.approx(9 * 3600)
    assert risk.loc["db-risk", "lag_s"] == pytest.approx(15 * 3600)
    assert risk.loc["db-risk", "pending_bytes"] == 190
    assert (risk.loc["db-idle", "lost_files"], risk.loc["db-idle", "lost_bytes"]) == (1, 100)
    assert risk.loc["db-over", "failed_files"] == 1
    # with nothing pending, the lag is how long the newest file took to be copied
    assert instance_lag(frame)["db-idle"] == pytest.approx(20)


def test_gaps_and_lower_bounds_reach_the_dashboard_frames() -> None:
    from labkit.dashboard.state import GAP_COLUMNS, gap_frame
    from labkit.workbook.pipeline import summarize_backup_state

    # GIVEN a file LOST with a lower bound and the gap it opened
    lost = {
        "pk": "db-1",
        "sk": "audit/server_audit.log@ab",
        "state": "LOST",
        "size": 900,
        "copied_bytes": 100,
        "lost_bytes": 800,
        "lost_exact": False,
        "vanished_at": 1_765_000_001_000,
        "last_written": 1_765_000_000_000,
    }
    gap = {
        "pk": "gap#db-1",
        "sk": "audit/server_audit.log@ab",
        "instance_id": "db-1",
        "from_ms": 1_765_000_000_000,
        "to_ms": 1_765_000_002_000,
        "files": ["audit/server_audit.log@ab"],
        "known_lost_bytes": 800,
        "events": ["audit/server_audit.log.2|55|1765000001500"],
        "reason": "vanished before it was sealed",
    }
    state = state_frame([lost])
    frame = gap_frame([gap])
    # THEN the state says the loss is a lower bound, the summary counts it, and the gap is one open row
    assert list(state["lost_exact"]) == [False]
    assert summarize_backup_state(state, state.iloc[0:0])["files_lost_lower_bound"] == 1
    assert list(frame.columns) == GAP_COLUMNS
    assert frame.iloc[0][["known_lost_bytes", "events", "acknowledged"]].tolist() == [800, 1, False]
