"""The engine-fed dashboard charts: re-bucketing keeps every event, and the failed-logins summary counts rows.

No engine here: the frames are what ``events_per_operation`` and ``failed_logins`` return (the functional
test tests/functional/test_dashboard_archive.py runs them through DuckDB over a real backup).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.dashboard.audit_search import failed_login_summary, operations_chart

START = datetime(2026, 11, 1, tzinfo=UTC)
UNIT = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@settings(max_examples=30, deadline=None)
@given(
    bucket=st.sampled_from(sorted(UNIT)),
    rows=st.lists(
        st.tuples(
            st.integers(0, 5000),
            st.sampled_from(["CONNECT", "QUERY", "READ", "FAILED_CONNECT"]),
            st.integers(1, 10**6),
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),
    ),
)
def test_every_counted_event_is_on_the_chart(bucket: str, rows: list[tuple[int, str, int]]) -> None:
    # GIVEN the engine's counts per bucket and operation (any spread, any bucket size)
    counts = pd.DataFrame(
        [{"bucket": START + n * UNIT[bucket], "operation": op, "events": events} for n, op, events in rows]
    )
    # WHEN the chart re-buckets them THEN each operation's line sums to its events, no more, no less
    fig = operations_chart(counts, bucket)
    drawn = {line.get_label(): int(sum(line.get_ydata())) for line in fig.axes[0].get_lines()}
    assert drawn == counts.groupby("operation")["events"].sum().to_dict()


def test_failed_logins_are_counted_per_user_host_and_code() -> None:
    rows = pd.DataFrame(
        {
            "event_time": pd.to_datetime(
                ["2026-11-01 10:00", "2026-11-01 10:05", "2026-11-01 11:00", "2026-11-02 09:00"], utc=True
            ),
            "username": ["bob", "bob", "eve", "bob"],
            "client_host": ["10.0.0.1", "10.0.0.1", "10.0.0.9", "10.0.0.1"],
            "retcode": [1045, 1045, 1045, 1045],
        }
    )
    summary = failed_login_summary(rows)
    assert summary[["username", "attempts"]].to_dict("records") == [
        {"username": "bob", "attempts": 3},
        {"username": "eve", "attempts": 1},
    ]
    assert summary["last_seen"][0] == pd.Timestamp("2026-11-02 09:00", tz="UTC")
    assert failed_login_summary(rows.iloc[0:0]).empty
