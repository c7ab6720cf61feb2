"""The rotation-sizing advisor (labkit.backup.sizing): worked cases, then properties over generated listings
of an instance writing at a steady rate (rates, rotate sizes, file counts, scan periods)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labkit.backup import sizing
from labkit.backup.sizing import AT_RISK, OK, UNKNOWN, HistoryPolicy, assess
from labkit.config import load_config
from labkit.errors import ConfigError

NOW_MS = 2_000_000_000_000  # a fixed "now": nothing here reads the clock
AWS = HistoryPolicy(scan_period_s=60.0)  # the aws target: setting read off the listing


def steady(
    rate: float, size: int, rotations: int, phase: float = 0.5, now_ms: int = NOW_MS
) -> list[dict[str, Any]]:
    """What DescribeDBLogFiles lists for an RDS for MySQL instance writing ``rate`` B/s with ``rotations``
    files of ``size`` bytes kept: ``.N`` … ``.1`` each last written at its rotation, one interval apart,
    and the active file ``phase`` of the way to its own rotation, written just now."""
    interval_ms = size / rate * 1000
    files = [
        {
            "LogFileName": f"audit/server_audit.log.{k}",
            "Size": size,
            "LastWritten": now_ms - round((phase + k - 1) * interval_ms),
        }
        for k in range(rotations, 0, -1)
    ]
    files.append(
        {"LogFileName": "audit/server_audit.log", "Size": round(phase * size), "LastWritten": now_ms}
    )
    return files


def covered(listing: list[dict[str, Any]], policy: HistoryPolicy = AWS) -> float:
    found = assess(listing, "rds-mysql", policy, NOW_MS)
    assert found.covered_scans is not None, found
    return found.covered_scans


# -- worked cases ---------------------------------------------------------------------------------------------
def test_rds_defaults_at_sysbench_rate_keep_seconds_and_the_advice_names_the_option_group() -> None:
    # GIVEN RDS for MySQL's option-group defaults (1,000,000 bytes x 9) and sysbench's 3.7 MB/s (REFERENCE)
    listing = steady(3_700_000, 1_000_000, 9)
    # WHEN a 1-minute poller assesses the listing
    found = assess(listing, "rds-mysql", AWS, NOW_MS)
    # THEN about 2.4 s of history is kept: 0.04 of a scan period, at risk
    assert found.verdict == AT_RISK and found.setting_from == "listing"
    assert (found.rotate_size, found.rotations) == (1_000_000, 9)
    assert found.rate_bps == pytest.approx(3_700_000, rel=1e-3)
    assert found.history_s == pytest.approx(2.43, abs=0.01)
    assert found.covered_scans == pytest.approx(2.43 / 60, abs=1e-3)
    # AND the advice: 3 minutes at 3.7 MB/s is 666 MB, i.e. 74 MB x 9 files in the option group (whole MB
    # rounded up: LastWritten's milliseconds put the measured rate a hair above 3.7 MB/s, so 75 MB here)
    assert found.needed_bytes == pytest.approx(666_000_000, rel=1e-3)
    assert (found.suggested_rotate_size, found.suggested_rotations) == (75_000_000, 9)
    assert "SERVER_AUDIT_FILE_ROTATE_SIZE=75000000" in found.change
    assert "SERVER_AUDIT_FILE_ROTATIONS=9" in found.change and "option group" in found.change
    applied = replace(AWS, rotate_size=75_000_000, rotations=9)
    assert assess(listing, "rds-mysql", applied, NOW_MS).verdict == OK
    short = replace(AWS, rotate_size=74_000_000, rotations=9)  # a hair under 3 scans at the measured rate
    assert assess(listing, "rds-mysql", short, NOW_MS).covered_scans == pytest.approx(3.0, rel=1e-3)
    assert assess(listing, "rds-mysql", short, NOW_MS).verdict == AT_RISK


def test_a_quiet_instance_with_the_same_defaults_is_ok() -> None:
    # 1 MB x 9 at 10 kB/s: 900 s of history, 15 one-minute scans
    found = assess(steady(10_000, 1_000_000, 9), "rds-mysql", AWS, NOW_MS)
    assert found.verdict == OK and found.covered_scans == pytest.approx(15, rel=1e-3)
    assert found.change == "" and found.suggested_rotate_size is None


def test_beyond_the_largest_setting_the_advice_is_to_scan_more_often() -> None:
    # 100 files of 1 GB hold 100 GB: at 1 GB/s that is 100 s, under three one-minute scans
    found = assess(steady(1e9, 1_000_000_000, 100), "rds-mysql", AWS, NOW_MS)
    assert found.verdict == AT_RISK and found.suggested_rotate_size is None
    assert "no rotation setting" in found.change and "every 33 s" in found.change


def test_only_the_active_file_measures_nothing() -> None:
    listing = [{"LogFileName": "audit/server_audit.log", "Size": 5000, "LastWritten": NOW_MS}]
    found = assess(listing, "rds-mysql", AWS, NOW_MS)
    assert (found.verdict, found.rate_bps, found.covered_scans) == (UNKNOWN, None, None)
    assert assess([], "rds-mysql", AWS, NOW_MS).verdict == UNKNOWN


def aurora_listing() -> list[dict[str, Any]]:
    """Four streams written at once, two files each: 100 MB rotated 100 s before the active file's write."""
    files = []
    for k in range(4):
        files.append(
            {
                "LogFileName": f"audit/audit.log.{k}.2026-12-07-03-00.0",
                "Size": 100_000_000,
                "LastWritten": NOW_MS - 100_000,
            }
        )
        files.append(
            {
                "LogFileName": f"audit/audit.log.{k}.2026-12-07-03-01.0",
                "Size": 50_000_000,
                "LastWritten": NOW_MS,
            }
        )
    return files


def test_aurora_on_aws_is_kept_by_retention_and_the_risk_named_is_log_space() -> None:
    # GIVEN four streams each writing 0.5 MB/s
    found = assess(aurora_listing(), "aurora", AWS, NOW_MS)
    # THEN retention (24 h) covers 1,440 one-minute scans; the note says what the rate puts at risk
    assert found.model == sizing.RETENTION and found.verdict == OK
    assert found.rate_bps == pytest.approx(2_000_000)
    assert found.covered_scans == pytest.approx(1440)
    assert found.needed_bytes == pytest.approx(2_000_000 * 86400)  # 172.8 GB of log space for 24 h
    assert "RDS-EVENT-0611" in found.note and "172.80 GB" in found.note
    assert found.suggested_rotate_size is None  # no Aurora setting to suggest
    short = replace(AWS, aurora_retention_s=120.0)  # 2 minutes: fewer than 3 scans
    assert assess(aurora_listing(), "aurora", short, NOW_MS).verdict == AT_RISK


def test_on_the_local_lab_aurora_names_rotate_away_by_the_configured_setting() -> None:
    # GIVEN the local lab's policy (its MariaDB stand-in deletes by rotation count) with 4 kB x 2 files
    config = load_config(
        env={}, target="local", audit_rotate_size=4096, audit_rotations=2, scan_interval_s=10.0
    )
    policy = HistoryPolicy.for_lab(config)
    assert policy.aurora_retention_s is None and (policy.rotate_size, policy.rotations) == (4096, 2)
    listing = [
        {"LogFileName": "audit/audit.log.0.2026-12-07-03-00.0", "Size": 4100, "LastWritten": NOW_MS - 2000},
        {"LogFileName": "audit/audit.log.0.2026-12-07-03-00.1", "Size": 4100, "LastWritten": NOW_MS - 1000},
        {"LogFileName": "audit/audit.log.0.2026-12-07-03-00.2", "Size": 2050, "LastWritten": NOW_MS},
    ]
    # WHEN it is assessed: 6,150 bytes written in 2 s, 8 kB kept: under 3 s of history
    found = assess(listing, "aurora", policy, NOW_MS)
    # THEN at risk, and the advice names the lab's own settings
    assert found.model == sizing.ROTATIONS and found.setting_from == "configured"
    assert found.verdict == AT_RISK and found.history_s == pytest.approx(8192 / 3075)
    assert "LABKIT_AUDIT_ROTATE_SIZE=" in found.change and "LABKIT_AUDIT_ROTATIONS=2" in found.change


def test_the_aws_policy_reads_retention_and_safe_scans_from_config_with_its_precedence() -> None:
    env = {"LABKIT_HISTORY_SAFE_SCANS": "5", "LABKIT_AURORA_AUDIT_RETENTION_HOURS": "12"}
    policy = HistoryPolicy.for_lab(load_config(env=env, target="aws", account_id="123456789012"))
    assert (policy.safe_scans, policy.aurora_retention_s, policy.rotate_size) == (5.0, 12 * 3600.0, None)
    assert policy.scan_period_s == 60.0  # rate(1 minute)
    explicit = load_config(env=env, target="aws", account_id="123456789012", history_safe_scans=2.0)
    assert explicit.history_safe_scans == 2.0
    with pytest.raises(ConfigError, match="history_safe_scans"):
        load_config(env={"LABKIT_HISTORY_SAFE_SCANS": "0.5"})


def test_listings_from_items_keep_live_files_in_describe_db_log_files_shape() -> None:
    items = [
        {
            "pk": "db-1",
            "scheme": "rds-mysql",
            "log_file_name": "audit/server_audit.log.1",
            "size": Decimal(10),
            "last_written": Decimal(5),
        },
        {
            "pk": "db-1",
            "scheme": "rds-mysql",
            "log_file_name": "audit/server_audit.log.2",
            "size": Decimal(10),
            "last_written": Decimal(1),
            "vanished_at": Decimal(9),
        },
        {
            "pk": "db-2",
            "scheme": "aurora",
            "log_file_name": "audit/audit.log.0.x.0",
            "size": Decimal(3),
            "last_written": Decimal(2),
        },
    ]
    assert sizing.listings_from_items(items) == {
        "db-1": ("rds-mysql", [{"LogFileName": "audit/server_audit.log.1", "Size": 10, "LastWritten": 5}]),
        "db-2": ("aurora", [{"LogFileName": "audit/audit.log.0.x.0", "Size": 3, "LastWritten": 2}]),
    }


# -- properties -----------------------------------------------------------------------------------------------
rates = st.floats(min_value=1.0, max_value=1e8)
sizes = st.integers(min_value=4096, max_value=1_000_000_000)
counts = st.integers(min_value=1, max_value=100)
periods = st.floats(min_value=1.0, max_value=86_400.0)
phases = st.floats(min_value=0.25, max_value=1.0)
# the assume()s keep listings whose files take at least a second to fill: many draws are discarded, by design
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@PROPERTY
@given(rates, sizes, counts, periods, phases)
def test_the_estimate_is_rotate_size_times_files_over_rate(
    rate: float, size: int, count: int, period: float, phase: float
) -> None:
    assume(size / rate >= 1.0)  # rotations at least a second apart: LastWritten's ms are then fine enough
    policy = HistoryPolicy(scan_period_s=period)
    found = assess(steady(rate, size, count, phase), "rds-mysql", policy, NOW_MS)
    assert found.rate_bps == pytest.approx(rate, rel=5e-3)
    assert found.covered_scans == pytest.approx(min(sizing.MAX_COVER, count * size / rate / period), rel=5e-3)
    assert found.verdict == (AT_RISK if found.covered_scans < policy.safe_scans else OK)


@PROPERTY
@given(rates, rates, sizes, counts, phases)
def test_a_faster_writer_never_covers_more(r1: float, r2: float, size: int, count: int, phase: float) -> None:
    slow, fast = sorted((r1, r2))
    assert covered(steady(fast, size, count, phase)) <= covered(steady(slow, size, count, phase))


@PROPERTY
@given(rates, sizes, st.integers(min_value=2, max_value=20), counts, phases)
def test_larger_files_cover_more(rate: float, size: int, factor: int, count: int, phase: float) -> None:
    assume(size / rate >= 1.0 and size * factor <= 10**10)
    larger, smaller = (
        covered(steady(rate, size * factor, count, phase)),
        covered(steady(rate, size, count, phase)),
    )
    assert larger > smaller or larger == smaller == sizing.MAX_COVER


@PROPERTY
@given(rates, sizes, counts, st.integers(min_value=1, max_value=50), phases)
def test_more_files_kept_cover_more(rate: float, size: int, count: int, more: int, phase: float) -> None:
    assume(size / rate >= 1.0)
    more_kept, fewer = (
        covered(steady(rate, size, count + more, phase)),
        covered(steady(rate, size, count, phase)),
    )
    assert more_kept > fewer or more_kept == fewer == sizing.MAX_COVER


@PROPERTY
@given(rates, sizes, counts, periods, periods, phases)
def test_a_longer_scan_period_never_covers_more(
    rate: float, size: int, count: int, p1: float, p2: float, phase: float
) -> None:
    short, long = sorted((p1, p2))
    listing = steady(rate, size, count, phase)
    assert covered(listing, HistoryPolicy(scan_period_s=long)) <= covered(
        listing, HistoryPolicy(scan_period_s=short)
    )


def check_advice(listing: list[dict[str, Any]], scheme: str, policy: HistoryPolicy) -> None:
    """Whatever the verdict, it agrees with its own figures, and an advised setting applied passes."""
    found = assess(listing, scheme, policy, NOW_MS)
    if found.covered_scans is None:
        assert found.verdict == UNKNOWN
        return
    assert found.covered_scans >= 0
    assert found.verdict == (AT_RISK if found.covered_scans < policy.safe_scans else OK)
    if found.suggested_rotate_size is not None:
        assert found.verdict == AT_RISK
        assert found.suggested_rotate_size <= sizing.MAX_ROTATE_SIZE
        assert found.suggested_rotations is not None and found.suggested_rotations <= sizing.MAX_ROTATIONS
        applied = replace(
            policy, rotate_size=found.suggested_rotate_size, rotations=found.suggested_rotations
        )
        assert assess(listing, scheme, applied, NOW_MS).verdict == OK
    elif found.verdict == AT_RISK:
        assert found.change, found  # at risk always names what to change


@PROPERTY
@given(rates, sizes, counts, periods, phases, st.floats(min_value=1.0, max_value=20.0))
def test_the_advised_setting_applied_passes_its_own_check(
    rate: float, size: int, count: int, period: float, phase: float, safe: float
) -> None:
    check_advice(
        steady(rate, size, count, phase), "rds-mysql", HistoryPolicy(scan_period_s=period, safe_scans=safe)
    )


listed_file = st.fixed_dictionaries(
    {
        "LogFileName": st.one_of(
            st.integers(min_value=0, max_value=12).map(
                lambda k: "audit/server_audit.log" + (f".{k}" if k else "")
            ),
            st.tuples(st.integers(0, 3), st.integers(0, 5)).map(
                lambda t: f"audit/audit.log.{t[0]}.2026-12-07-03-0{t[1]}.{t[1]}"
            ),
        ),
        "Size": st.integers(min_value=0, max_value=2_000_000_000),
        "LastWritten": st.integers(min_value=NOW_MS - 10**9, max_value=NOW_MS),
    }
)


@PROPERTY
@given(
    st.lists(listed_file, max_size=12, unique_by=lambda f: f["LogFileName"]),
    st.sampled_from(["rds-mysql", "aurora"]),
    periods,
    st.sampled_from([None, 3600.0]),
    st.one_of(st.none(), st.tuples(sizes, st.integers(min_value=0, max_value=100))),
)
def test_any_listing_gets_a_verdict_that_agrees_with_its_figures(
    listing: list[dict[str, Any]],
    scheme: str,
    period: float,
    retention: float | None,
    setting: tuple[int, int] | None,
) -> None:
    size, count = setting or (None, None)
    policy = HistoryPolicy(
        scan_period_s=period, aurora_retention_s=retention, rotate_size=size, rotations=count
    )
    check_advice(listing, scheme, policy)


def test_the_dashboard_table_has_one_row_per_instance_with_its_verdict_and_change() -> None:
    from labkit.dashboard import history_cover_table

    def items(instance: str, listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "pk": instance,
                "scheme": "rds-mysql",
                "log_file_name": f["LogFileName"],
                "size": f["Size"],
                "last_written": f["LastWritten"],
            }
            for f in listing
        ]

    busy, quiet = steady(3_700_000, 1_000_000, 9), steady(10_000, 1_000_000, 9)
    frame = history_cover_table(items("db-busy", busy) + items("db-quiet", quiet), AWS)
    assert list(frame["instance_id"]) == ["db-busy", "db-quiet"]
    assert list(frame["verdict"]) == [AT_RISK, OK]
    assert "SERVER_AUDIT_FILE_ROTATIONS=9" in frame.loc[0, "change"] and frame.loc[1, "change"] == ""
    assert frame.loc[1, "covered_scans"] == pytest.approx(15, rel=1e-3)
