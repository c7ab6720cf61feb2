"""The synthetic fleet's rate distribution (labkit.local.fleet.FleetSpec.rates): for every fleet size, total and
split, the instances write the total between them, the busy ones at least as fast as the quiet ones when the
busy share is at least their share of the fleet, and nobody at a negative rate."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from labkit.local.fleet import FleetSpec


@given(
    instances=st.integers(1, 500),
    total=st.floats(0, 1e9),
    busy_fraction=st.floats(0, 1),
    busy_share=st.floats(0, 1),
)
def test_the_instances_write_the_total_between_them(
    instances: int, total: float, busy_fraction: float, busy_share: float
) -> None:
    spec = FleetSpec(instances, total, busy_fraction=busy_fraction, busy_share=busy_share).validate()
    rates = spec.rates()
    assert len(rates) == instances == len(set(spec.instance_ids()))
    assert math.isclose(sum(rates), total, rel_tol=1e-9, abs_tol=1e-6)
    assert min(rates) >= 0
    busy = sum(1 for r in rates if r == rates[0])
    if busy < instances and busy_share >= busy / instances:
        assert rates[0] >= rates[-1]


def test_mostly_quiet_some_busy_by_default() -> None:
    # 100 instances at 3 MB/s: 10 busy ones write 70 % (210 KB/s each), 90 quiet ones 10 KB/s each
    rates = FleetSpec(100, 3_000_000.0).rates()
    assert rates[:10] == [210_000.0] * 10
    assert all(math.isclose(r, 10_000.0) for r in rates[10:])
