"""The emulator's AWS-shaped RDS profile: one request budget per account and Region, and AWS-like latency.

RDS throttles every API call of an account and Region with one token bucket (AWS, "Request throttling for
the Amazon RDS API": 300 requests of burst, 12 per second sustained, shared with every other RDS client).
An empty bucket answers HTTP 400 ``Throttling`` "Rate exceeded". The published page rate of
DownloadDBLogFilePortion is 0.3-0.9 MB/s per file read sequentially (rdstail's performance notes, 2026; one
source); no public figure exists for the REST complete download, so its rate is an assumption here, as is
the fixed latency per call. The default ``fast`` profile keeps none of this, so tests and ``make lab`` stay
quick. The clock is injectable: tests advance a fake clock instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labkit.config import LabConfig

Clock = Callable[[], float]
MB = 1_000_000  # rates are in MB/s of 10^6 bytes, as the published figures are

# the RDS actions the emulator serves that are charged to the account's budget (lab set-up calls such as
# CreateDBInstance stand in for infrastructure that already exists, so they are not charged)
BUDGETED_ACTIONS = frozenset(
    {
        "DescribeDBInstances",
        "DescribeDBClusters",
        "DescribeDBLogFiles",
        "DownloadDBLogFilePortion",
        "DownloadCompleteDBLogFile",
        "DescribeEvents",
    }
)


class TokenBucket:
    """``burst`` tokens at most, refilled at ``refill_per_s``; thread-safe. ``take`` never waits."""

    def __init__(self, burst: float, refill_per_s: float, clock: Clock = time.monotonic) -> None:
        if burst < 1 or refill_per_s < 0:
            raise ValueError(f"burst {burst} must be >= 1 and refill_per_s {refill_per_s} >= 0")
        self.burst, self.refill_per_s = float(burst), float(refill_per_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at = self.created_at = clock()
        self.taken = 0  # tokens spent since creation: at most burst + refill_per_s x its age

    def take(self, count: int = 1) -> bool:
        """Spend ``count`` tokens if the bucket holds them (True), else spend nothing (False)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._at)  # a clock that steps back refills nothing
            self._tokens = min(self.burst, self._tokens + elapsed * self.refill_per_s)
            self._at = now
            if self._tokens >= count:
                self._tokens -= count
                self.taken += count
                return True
            return False

    @property
    def tokens(self) -> float:
        with self._lock:
            elapsed = max(0.0, self._clock() - self._at)
            return min(self.burst, self._tokens + elapsed * self.refill_per_s)

    def usage(self) -> dict[str, float]:
        """What the bucket let through since it was made, and the most it could have (burst + refill x age)."""
        with self._lock:
            age = max(0.0, self._clock() - self.created_at)
            taken = self.taken
        return {"admitted": taken, "age_s": age, "allowed": self.burst + self.refill_per_s * age}


@dataclass(frozen=True)
class RdsProfile:
    """How the emulator's RDS behaves. ``fast`` (the default): no budget, no added latency."""

    name: str = "fast"
    burst: int = 300  # AWS "Request throttling for the Amazon RDS API"
    refill_per_s: float = 12.0  # same source
    call_latency_ms: float = 100.0  # assumption: no public figure for a call's fixed cost
    portion_mb_s: float = 0.6  # inside rdstail's published 0.3-0.9 MB/s per file
    complete_mb_s: float = 2.0  # assumption: no public figure for the complete download

    @property
    def throttles(self) -> bool:
        return self.name == "aws"

    def call_delay_s(self) -> float:
        """The fixed latency every charged call costs (0 on the fast profile)."""
        return self.call_latency_ms / 1000 if self.throttles else 0.0

    def portion_delay_s(self, nbytes: int) -> float:
        """A DownloadDBLogFilePortion answer of ``nbytes``: fixed latency plus transfer at the page rate."""
        if not self.throttles:
            return 0.0
        return self.call_delay_s() + nbytes / (self.portion_mb_s * MB)

    def complete_delay_s(self, nbytes: int) -> float:
        """Streaming ``nbytes`` of a complete download at its (assumed) rate; the call latency is apart."""
        return nbytes / (self.complete_mb_s * MB) if self.throttles else 0.0

    @classmethod
    def from_config(cls, config: LabConfig) -> RdsProfile:
        return cls(
            name=config.rds_profile,
            burst=config.rds_burst,
            refill_per_s=config.rds_refill_per_s,
            call_latency_ms=config.rds_call_latency_ms,
            portion_mb_s=config.rds_portion_mb_s,
            complete_mb_s=config.rds_complete_mb_s,
        )


class RdsBudget:
    """One token bucket per (account, Region), created on first use: every client of that account and
    Region spends from the same one, whatever the action."""

    def __init__(self, profile: RdsProfile, clock: Clock = time.monotonic) -> None:
        self.profile = profile
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def admit(self, account: str, region: str, action: str) -> bool:
        """True when the call may be served; False: answer ``Throttling``. Unbudgeted actions always pass."""
        if not self.profile.throttles or action not in BUDGETED_ACTIONS:
            return True
        with self._lock:
            bucket = self._buckets.get((account, region))
            if bucket is None:
                bucket = TokenBucket(self.profile.burst, self.profile.refill_per_s, self._clock)
                self._buckets[(account, region)] = bucket
        return bucket.take()

    def usage(self) -> dict[str, dict[str, float]]:
        """Per ``account/region`` bucket made so far: :meth:`TokenBucket.usage` (empty on ``fast``)."""
        with self._lock:
            buckets = dict(self._buckets)
        return {f"{account}/{region}": b.usage() for (account, region), b in buckets.items()}


__all__ = ["BUDGETED_ACTIONS", "RdsBudget", "RdsProfile", "TokenBucket"]
