"""The aws profile's RDS budget: a token bucket per account and Region, on a fake clock (no sleeping, no
dependence on the machine's speed), and the profile's delays computed from bytes and rates."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.config import load_config
from labkit.errors import ConfigError
from labkit.local.emulator.rds_budget import MB, RdsBudget, RdsProfile, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_grants_its_burst_then_refuses() -> None:
    # GIVEN a bucket of 3 tokens refilling at 2/s, clock stopped
    clock = FakeClock()
    bucket = TokenBucket(3, 2.0, clock)
    # THEN three calls pass and the fourth is refused
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    # WHEN half a second passes: one token back, one call passes
    clock.now += 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
    # WHEN a long time passes: never more than the burst
    clock.now += 3600
    assert sum(bucket.take() for _ in range(10)) == 3


def test_a_clock_stepping_back_refills_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, 100.0, clock)
    assert bucket.take()
    clock.now -= 10
    assert not bucket.take()


def test_the_bucket_is_thread_safe() -> None:
    # GIVEN 200 tokens and no refill, WHEN 8 threads take 50 each, THEN exactly 200 are granted
    bucket = TokenBucket(200, 0.0, FakeClock())
    granted: list[int] = []

    def worker() -> None:
        granted.append(sum(bucket.take() for _ in range(50)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 200


@given(
    burst=st.integers(1, 50),
    rate=st.floats(0.0, 50.0, allow_nan=False),
    steps=st.lists(st.tuples(st.floats(0.0, 5.0, allow_nan=False), st.integers(0, 40)), max_size=40),
)
def test_granted_never_exceeds_burst_plus_rate_times_elapsed(
    burst: int, rate: float, steps: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(burst, rate, clock)
    start, granted = clock.now, 0
    for advance, requests in steps:
        clock.now += advance
        granted += sum(bucket.take() for _ in range(requests))
        assert granted <= burst + rate * (clock.now - start) + 1e-6


def test_one_bucket_per_account_and_region_shared_by_every_action() -> None:
    clock = FakeClock()
    budget = RdsBudget(RdsProfile("aws", burst=2, refill_per_s=1.0), clock)
    assert budget.admit("111111111111", "us-east-1", "DescribeDBLogFiles")
    assert budget.admit("111111111111", "us-east-1", "DownloadDBLogFilePortion")
    assert not budget.admit("111111111111", "us-east-1", "DescribeDBInstances")
    # another Region and another account have their own buckets
    assert budget.admit("111111111111", "eu-west-1", "DescribeDBLogFiles")
    assert budget.admit("222222222222", "us-east-1", "DescribeEvents")
    # an action outside the budget (lab set-up) is never refused
    assert budget.admit("111111111111", "us-east-1", "CreateDBInstance")


def test_the_fast_profile_never_throttles_nor_delays() -> None:
    budget = RdsBudget(RdsProfile("fast", burst=1, refill_per_s=0.0), FakeClock())
    assert all(budget.admit("a", "r", "DescribeDBLogFiles") for _ in range(1000))
    fast = RdsProfile()
    assert (fast.portion_delay_s(MB), fast.complete_delay_s(MB), fast.call_delay_s()) == (0.0, 0.0, 0.0)


def test_the_aws_profile_delays_are_latency_plus_bytes_over_rate() -> None:
    aws = RdsProfile("aws", call_latency_ms=50, portion_mb_s=0.5, complete_mb_s=4.0)
    assert aws.portion_delay_s(1_000_000) == pytest.approx(0.05 + 2.0)
    assert aws.portion_delay_s(0) == pytest.approx(0.05)
    assert aws.complete_delay_s(8_000_000) == pytest.approx(2.0)


def test_the_profile_and_its_settings_follow_the_config_precedence() -> None:
    # the default is fast; LABKIT_RDS_PROFILE=aws picks the documented defaults; an argument beats the env
    assert RdsProfile.from_config(load_config(env={})).throttles is False
    aws = RdsProfile.from_config(load_config(env={"LABKIT_RDS_PROFILE": "aws"}))
    assert (aws.throttles, aws.burst, aws.refill_per_s) == (True, 300, 12.0)
    assert 0.3 <= aws.portion_mb_s <= 0.9
    config = load_config(env={"LABKIT_RDS_PROFILE": "aws", "LABKIT_RDS_BURST": "5"}, rds_refill_per_s=1.5)
    assert (config.rds_burst, config.rds_refill_per_s) == (5, 1.5)
    with pytest.raises(ConfigError, match="fast, aws"):
        load_config(env={"LABKIT_RDS_PROFILE": "slow"})
    with pytest.raises(ConfigError, match="rds_burst"):
        load_config(env={}, rds_burst=0)
