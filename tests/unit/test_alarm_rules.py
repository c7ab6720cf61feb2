"""The alarm rules evaluated on local readings (no network): the decisions CloudWatch would take, for every
input, and the dashboard's panels named as the local charts are."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.alarms import (
    ALARM,
    BREACHING,
    GREATER,
    INSUFFICIENT,
    OK,
    LocalReadings,
    alarm_rules,
    dashboard_panels,
    evaluate,
)
from labkit.backup import table as t
from labkit.config import load_config

LAB = load_config(env={}, target="local", scan_interval_s=300.0)
RULES = {rule.key: rule for rule in alarm_rules(LAB)}
NOW = 2_000_000_000.0  # an arbitrary fixed "now": nothing here reads the clock


def state_of(key: str, readings: LocalReadings) -> str:
    (result,) = [r for r in evaluate(list(RULES.values()), readings) if r.rule.key == key]
    return result.state


def readings(**kwargs: Any) -> LocalReadings:
    base: dict[str, Any] = {"now": NOW, "items": [], "queue_messages": {}, "runtime": None}
    return LocalReadings(**{**base, **kwargs})


def runtime(last_scan: float, errors: int = 0, running: bool = True) -> dict[str, Any]:
    function = {"invocations": 1, "errors": 0, "last_invoked_at": 0.0, "last_error": ""}
    return {
        "running": running,
        "scanner": {**function, "last_invoked_at": last_scan},
        "detector": {**function, "errors": errors},
        "downloader": dict(function),
    }


items = st.lists(
    st.fixed_dictionaries(
        {
            "state": st.sampled_from(t.STATES),
            "updated_at": st.integers(min_value=0, max_value=int(NOW * 1000)),
            "size": st.integers(min_value=1, max_value=10),
            "copied_bytes": st.integers(min_value=0, max_value=10),
            "last_written": st.integers(min_value=0, max_value=int(NOW * 1000)),
        }
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(items)
def test_files_lost_and_failed_fire_exactly_when_a_file_reached_that_state_within_the_window(
    table: list[dict[str, Any]],
) -> None:
    for key, state in (("files-lost", t.LOST), ("files-failed", t.FAILED)):
        since_ms = (NOW - RULES[key].window_s) * 1000
        recent = any(i["state"] == state and i["updated_at"] >= since_ms for i in table)
        assert state_of(key, readings(items=table)) == (ALARM if recent else OK), key


@settings(max_examples=40, deadline=None)
@given(
    last_scan=st.one_of(st.just(0.0), st.floats(min_value=NOW - 5000, max_value=NOW)),
    age=st.one_of(st.none(), st.floats(min_value=0, max_value=5000)),
    running=st.booleans(),
)
def test_the_heartbeat_fires_when_the_scanner_was_silent_for_two_intervals_once_the_lab_is_old_enough(
    last_scan: float, age: float | None, running: bool
) -> None:
    rule = RULES["scanner-heartbeat"]
    assert rule.treat_missing_data == BREACHING and rule.window_s == 600
    started_at = None if age is None else NOW - age
    state = state_of(
        "scanner-heartbeat", readings(runtime=runtime(last_scan, running=running), started_at=started_at)
    )
    ran = running and last_scan >= NOW - 600
    young = age is not None and age < 600
    assert state == (OK if ran else INSUFFICIENT if young else ALARM)


def test_no_runtime_at_all_is_a_silent_scanner() -> None:
    assert state_of("scanner-heartbeat", readings(runtime=None)) == ALARM


def test_backup_lag_fires_above_the_threshold_for_a_copy_that_caught_up_within_the_window() -> None:
    def caught_up(lag_s: float) -> dict[str, Any]:
        updated = (NOW - 10) * 1000
        return {
            "state": t.BACKED_UP,
            "size": 5,
            "copied_bytes": 5,
            "updated_at": updated,
            "last_written": updated - lag_s * 1000,
        }

    assert state_of("backup-lag", readings(items=[caught_up(1700)])) == OK
    assert state_of("backup-lag", readings(items=[caught_up(1700), caught_up(1801)])) == ALARM
    pending = {**caught_up(5000), "copied_bytes": 2}  # not caught up: BackupLag is emitted on completion
    assert state_of("backup-lag", readings(items=[pending])) == OK


def test_queues_and_errors_fire_on_anything_above_zero_and_throttles_are_not_measured_locally() -> None:
    names = LAB.names
    clean = readings(queue_messages={names.dlq: 0, names.stream_failures: 0}, runtime=runtime(NOW))
    assert {r.rule.key: r.state for r in evaluate(list(RULES.values()), clean) if r.state == ALARM} == {}
    dirty = readings(queue_messages={names.dlq: 0, names.stream_failures: 3}, runtime=runtime(NOW, errors=2))
    firing = {r.rule.key for r in evaluate(list(RULES.values()), dirty) if r.state == ALARM}
    assert firing == {"stream-failures-not-empty", "detector-errors"}
    unmeasured = {r.rule.key for r in evaluate(list(RULES.values()), dirty) if r.state == INSUFFICIENT}
    assert unmeasured == {
        "scanner-throttles",
        "detector-throttles",
        "downloader-throttles",
        "stream-iterator-age",
        "complete-download-fallbacks",  # the emulator always serves the complete download
    }


def test_every_rule_but_the_heartbeat_and_the_history_cover_fires_above_its_threshold() -> None:
    # too few scanner runs, too few scan periods of kept history: the two "not enough" alarms
    assert {k for k, r in RULES.items() if r.comparison != GREATER} == {"scanner-heartbeat", "history-cover"}


def rotated(instance: str, scheme: str, sizes_written: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Live tracking items of an rds-mysql instance: (size, last written ms) from ``.N`` down to the
    active file, as the detector records its listing."""
    count = len(sizes_written) - 1
    return [
        {
            "pk": instance,
            "scheme": scheme,
            "state": t.PARTIAL,
            "log_file_name": "audit/server_audit.log" + (f".{count - k}" if k < count else ""),
            "size": size,
            "last_written": written,
            "updated_at": written,
        }
        for k, (size, written) in enumerate(sizes_written)
    ]


def test_history_cover_fires_for_the_worst_instance_when_it_keeps_fewer_than_k_scans() -> None:
    from labkit.backup.sizing import HistoryPolicy

    rule = RULES["history-cover"]
    assert (rule.threshold, rule.statistic, rule.treat_missing_data) == (3.0, "Minimum", "notBreaching")
    policy = HistoryPolicy(scan_period_s=300.0)  # the aws target's: the setting is read off the listing
    ms = int(NOW * 1000)
    # 1 MB x 2 files written in 20 s: 50 kB/s keeps 40 s, a fraction of one 5-minute scan
    fast = rotated("db-fast", "rds-mysql", [(1_000_000, ms - 20_000), (1_000_000, ms - 10_000), (0, ms)])
    # the same files written over 2 hours keep 4 hours: 48 scans
    slow = rotated(
        "db-slow", "rds-mysql", [(1_000_000, ms - 7_200_000), (1_000_000, ms - 3_600_000), (0, ms)]
    )
    judged = {"items": slow, "history_policy": policy}
    assert state_of("history-cover", readings(**judged)) == OK
    (result,) = [r for r in evaluate([rule], readings(items=fast + slow, history_policy=policy))]
    assert result.state == ALARM and result.value == pytest.approx(40 / 300)
    assert result.reason.startswith("db-fast:") and "SERVER_AUDIT_FILE_ROTATE_SIZE" in result.reason
    # nothing to measure (one file each, or no policy) is no data, which is not an alarm
    lone = rotated("db-new", "rds-mysql", [(500, ms)])
    assert state_of("history-cover", readings(items=lone, history_policy=policy)) == OK
    assert state_of("history-cover", readings(items=fast)) == OK  # not judged without a policy


def test_dashboard_panels_carry_the_titles_of_the_local_charts_they_stand_for() -> None:
    from matplotlib import pyplot as plt

    from labkit.dashboard import charts
    from labkit.dashboard.state import parts_frame, state_frame

    inputs = {
        "files_by_state": state_frame([]),
        "bytes_backed_up_over_time": parts_frame([]),
        "backup_lag": state_frame([]),
    }
    mirrored = [p for p in dashboard_panels(LAB) if p.chart]
    assert {p.chart for p in mirrored} == set(inputs)
    for panel in mirrored:
        figure = getattr(charts, panel.chart)(inputs[panel.chart])
        try:
            assert figure.axes[0].get_title().startswith(panel.title), panel
        finally:
            plt.close(figure)
