"""The tail loop's bounds, for every schedule, timeout, poll interval and scan duration.

FAKED: the clock. A FakeClock stands for both the epoch clock and the Lambda context's timer, its sleep
advances it, and each fake scan advances it by a chosen duration, so the bounds are checked exactly and no
test waits. The scan itself is a recorder here; tests/functional/test_tail_detector.py runs the real one.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.backup import tail
from labkit.backup.detector import DetectOutcome
from labkit.backup.scanner import InstanceMessage

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeContext:
    """get_remaining_time_in_millis of a function started at ``started`` with ``timeout_s``."""

    def __init__(self, clock: FakeClock, timeout_s: float) -> None:
        self.clock, self.end = clock, clock.now + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.end - self.clock.now) * 1000))


def message(instance_id: str) -> InstanceMessage:
    return InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora")


class Scans:
    """Records (instance, start, end) of every scan; each takes ``durations[n]`` (cycled) seconds."""

    def __init__(self, clock: FakeClock, durations: list[float]) -> None:
        self.clock, self.durations = clock, durations
        self.done: list[tuple[str, float, float]] = []

    def __call__(self, msg: InstanceMessage) -> DetectOutcome:
        start = self.clock.now
        self.clock.now += self.durations[len(self.done) % len(self.durations)]
        self.done.append((msg.instance_id, start, self.clock.now))
        return DetectOutcome(msg.instance_id, writes=1, rds_calls=1)


limits = st.fixed_dictionaries(
    {
        "timeout_s": st.floats(1, 900),
        "period_s": st.floats(1, 600),
        "sent_ago_s": st.floats(0, 60),
        "poll_s": st.floats(0.05, 30),
        "margin_s": st.floats(0, 20),
        "instances": st.integers(1, 4),
    }
)


def run(
    p: dict[str, Any], durations: list[float], first_round_s: float
) -> tuple[tail.TailReport, Scans, FakeContext]:
    clock = FakeClock()
    context = FakeContext(clock, p["timeout_s"])
    scans = Scans(clock, durations)
    followed = tail.targets(
        [(message(f"db-{i}"), T0 - p["sent_ago_s"]) for i in range(p["instances"])], p["period_s"]
    )
    report = tail.tail(
        followed,
        scans,
        remaining_ms=context.get_remaining_time_in_millis,
        poll_s=p["poll_s"],
        margin_s=p["margin_s"],
        first_round_s=first_round_s,
        clock=clock.time,
        sleep=clock.sleep,
    )
    return report, scans, context


@settings(max_examples=40, deadline=None)
@given(p=limits, duration=st.floats(0, 5), slack=st.floats(0, 5))
def test_no_scan_runs_past_the_next_schedule_or_the_budget(
    p: dict[str, Any], duration: float, slack: float
) -> None:
    # GIVEN scans that never take longer than the batch's own scan did
    first_round_s = (duration + slack) * p["instances"]
    report, scans, context = run(p, [duration], first_round_s)
    next_scan = T0 - p["sent_ago_s"] + p["period_s"]
    # THEN every tail scan ended before the next scheduled scan and the context's end, each less the margin
    for _, _, end in scans.done:
        assert end <= next_scan - p["margin_s"] + 1e-6
        assert end <= context.end - p["margin_s"] + 1e-6
    # ... rounds are at least poll_s apart, every round scanned every instance still followed
    assert report.scans == len(scans.done) == report.rounds * p["instances"]
    starts = [start for _, start, _ in scans.done[:: p["instances"]]]  # each round's first scan
    assert all(b - a >= p["poll_s"] - 1e-6 for a, b in itertools.pairwise(starts))
    # ... and it stopped only when one more round would not have fit (no early stop)
    wake = scans.clock.now + p["poll_s"]
    expected = max([first_round_s] + [duration * p["instances"]] * bool(report.rounds))
    limit = min(next_scan - p["margin_s"], context.end - p["margin_s"])
    assert wake + expected > limit - 1e-6
    assert report.stopped in (tail.SCHEDULE, tail.TIMEOUT)


@settings(max_examples=30, deadline=None)
@given(p=limits, durations=st.lists(st.floats(0, 20), min_size=1, max_size=5))
def test_a_round_starts_only_if_the_longest_round_so_far_still_fits(
    p: dict[str, Any], durations: list[float]
) -> None:
    # GIVEN scans of any duration (one slower than all before can overrun: the margin is for that)
    report, scans, context = run(p, durations, first_round_s=0.0)
    next_scan = T0 - p["sent_ago_s"] + p["period_s"]
    limit = min(next_scan, context.end) - p["margin_s"]
    longest = 0.0
    rounds = [scans.done[i : i + p["instances"]] for i in range(0, len(scans.done), p["instances"])]
    for scans_of_round in rounds:
        start = scans_of_round[0][1]
        assert start + longest <= limit + 1e-6  # it was believed to fit
        longest = max(longest, scans_of_round[-1][2] - start)
    assert report.rounds == len(rounds)


def test_the_earliest_next_scan_of_an_instance_wins_and_unsent_messages_are_not_tailed() -> None:
    # GIVEN one instance in two messages (a scheduled scan and a manual one), and one without a send time
    found = tail.targets(
        [(message("db-1"), T0), (message("db-1"), T0 - 30), (message("db-2"), None)], period_s=60
    )
    # THEN one target, until 60 s after the earlier message
    assert found == [tail.TailTarget(message("db-1"), T0 + 30)]


def test_a_failing_scan_drops_its_instance_and_the_rest_is_still_tailed() -> None:
    clock = FakeClock()
    context = FakeContext(clock, 60)
    seen: list[str] = []

    def scan(msg: InstanceMessage) -> DetectOutcome:
        seen.append(msg.instance_id)
        clock.now += 0.1
        if msg.instance_id == "db-bad":
            raise RuntimeError("Rate exceeded")
        return DetectOutcome(msg.instance_id, rds_calls=1)

    report = tail.tail(
        tail.targets([(message("db-bad"), T0), (message("db-ok"), T0)], 60),
        scan,
        remaining_ms=context.get_remaining_time_in_millis,
        poll_s=5,
        margin_s=5,
        first_round_s=0.2,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert seen.count("db-bad") == 1 and seen.count("db-ok") == report.rounds > 1
    assert report.failures == 1
    assert report.outcomes["db-ok"].rds_calls == report.rounds  # every round's calls summed


def test_only_scanner_messages_are_tailed() -> None:
    # GIVEN a scanner message, an RDS deletion event (SNS-wrapped and raw) and garbage
    event = {"Event Source": "db-instance", "Source ID": "db-1", "Event ID": "RDS-EVENT-0610"}
    wrapped = {"Type": "Notification", "Message": json.dumps(event)}
    # THEN only the scanner's message starts a tail
    assert tail.is_scheduled_scan(message("db-1").body())
    assert not tail.is_scheduled_scan(json.dumps(wrapped))
    assert not tail.is_scheduled_scan(json.dumps(event))
    assert not tail.is_scheduled_scan("not json")


def test_merged_adds_counts_and_joins_lists() -> None:
    a = DetectOutcome("db-1", new=1, writes=2, rds_calls=3, lost=["f1"])
    b = DetectOutcome("db-1", new=0, writes=1, rds_calls=1, lost=["f2"], unavailable=True)
    both = tail.merged(a, b)
    assert (both.new, both.writes, both.rds_calls, both.lost, both.unavailable) == (
        1,
        3,
        4,
        ["f1", "f2"],
        True,
    )
