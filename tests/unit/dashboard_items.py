"""Tracking-table items as the detector and downloader write them, for the dashboard tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labkit.backup import table as t

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def item(
    pk: str, sk: str, state: str, size: int, copied: int, written_ago_s: float, **extra: Any
) -> dict[str, Any]:
    written = NOW - timedelta(seconds=written_ago_s)
    return {
        "pk": pk,
        "sk": sk,
        "cluster_id": "c-1",
        "scheme": "aurora",
        "log_file_name": sk,
        "state": state,
        "size": size,
        "copied_bytes": copied,
        "sealed": False,
        "last_written": ms(written),
        "first_seen": ms(written - timedelta(minutes=10)),
        "updated_at": ms(written + timedelta(seconds=extra.pop("caught_up_after_s", 0))),
        "parts": 1 if copied else 0,
        "date": "2026-11-26",
        **extra,
    }


def risk_items() -> list[dict[str, Any]]:
    return [
        # db-ok: pending, oldest uncopied written 1 h ago, retention 24 h -> 23 h left, lag 1 h
        item("db-ok", "a", t.PARTIAL, 100, 50, written_ago_s=3600),
        # db-risk: pending for 15 h -> 9 h left < 15 h lag
        item("db-risk", "b", t.DETECTED, 100, 0, written_ago_s=15 * 3600),
        item("db-risk", "c", t.PARTIAL, 100, 10, written_ago_s=60),
        # db-over: pending for 25 h -> past retention
        item("db-over", "d", t.FAILED, 100, 0, written_ago_s=25 * 3600),
        # db-idle: all copied, 20 s after the last write; one file lost earlier
        item("db-idle", "e", t.BACKED_UP, 100, 100, written_ago_s=600, caught_up_after_s=20),
        item("db-idle", "f", t.LOST, 100, 0, written_ago_s=90000, vanished_at=ms(NOW), lost_bytes=100),
    ]
