"""The scanner's spread: each instance's message waits an offset of its own within the scan period, the same
at every scan, so the looks are even over the period and each instance is still looked at once a period.
A fake SQS client records the DelaySeconds sent (moto's own delay is exercised in
tests/functional/test_scan_spread_sqs.py); the tail's follow-up ends a period after the delayed delivery."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from labkit.backup import tail
from labkit.backup.scanner import MAX_DELAY_S, InstanceMessage, send_messages, spread_delay_s
from labkit.config import load_config

IDS = st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True)


@given(IDS, st.floats(min_value=0, max_value=5000, allow_nan=False))
def test_an_instance_waits_a_stable_whole_number_of_seconds_inside_the_window(
    instance: str, spread: float
) -> None:
    delay = spread_delay_s(instance, spread)
    assert delay == spread_delay_s(instance, spread)  # the same at every scan
    assert isinstance(delay, int) and 0 <= delay <= MAX_DELAY_S
    assert delay < max(1, min(spread, MAX_DELAY_S))  # inside the window (no window: no delay)


def test_many_instances_spread_evenly_over_the_period() -> None:
    # 600 instances over a 60-s period: each 10-s slice gets about a sixth (between 60% and 140% of it)
    counts = Counter(spread_delay_s(f"aurora-fleet-{n:04d}", 60) // 10 for n in range(600))
    assert sorted(counts) == list(range(6))
    assert all(60 <= c <= 140 for c in counts.values()), counts


class RecordingSqs:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"Failed": [], "Successful": []}


def test_each_message_carries_its_instances_delay_and_none_without_a_spread() -> None:
    messages = [InstanceMessage(f"db-{i}", "c", "aurora-mysql", "aurora") for i in range(25)]
    spread, burst = RecordingSqs(), RecordingSqs()
    send_messages(spread, "url", messages, spread_s=60)
    send_messages(burst, "url", messages)
    assert [e["DelaySeconds"] for e in spread.entries] == [
        spread_delay_s(m.instance_id, 60) for m in messages
    ]
    assert len({e["DelaySeconds"] for e in spread.entries}) > 10  # not all at once
    assert {e["DelaySeconds"] for e in burst.entries} == {0}


def test_the_stack_spreads_over_the_period_and_the_local_lab_does_not() -> None:
    aws = load_config(env={}, target="aws", scan_schedule="rate(2 minutes)")
    assert aws.scan_spread_s == 120.0
    assert load_config(env={}, target="local").scan_spread_s == 0.0  # two instances: no burst to spread
    assert load_config(env={}, target="local", profile="workshop").scan_spread_s == 0.0
    assert load_config(env={"LABKIT_SCAN_SPREAD": "0.5"}, target="local").scan_spread_s == 30.0


def test_a_delayed_message_is_followed_until_a_period_after_it_became_visible() -> None:
    message = InstanceMessage("db-7", "c", "aurora-mysql", "aurora")
    delay = spread_delay_s("db-7", 60)
    [target] = tail.targets([(message, 1000.0)], 60, spread_s=60)
    assert target.next_scan_at == 1000.0 + delay + 60
    [unspread] = tail.targets([(message, 1000.0)], 60)
    assert unspread.next_scan_at == 1060.0
