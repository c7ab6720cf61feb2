"""Tailing: between two scheduled scans, one detector invocation keeps scanning the instances it was given.

A scheduled scan every minute leaves up to a minute between an audit line written and the detector seeing
its file grow. When ``LabConfig.detector_tailing`` is on, the detector does not return after its scan:
every ``tail_poll_s`` it runs the same scan again (:func:`labkit.backup.detector.detect`, unchanged), so a
file's growth reaches the table, the stream and the downloader within seconds.

Bounds, so a tail never costs more than it should:
- it stops before the next scheduled scan of the same instance (the message's send time + the schedule's
  period, less ``tail_margin_s``): two detectors on one instance are safe (conditional writes) but would
  double its RDS calls;
- it stops before the function's timeout, less the same margin, read from the Lambda context each round;
- a round is started only if it can finish within both limits, judged by the longest round so far (the
  first estimate is the batch's own scan); an instance whose scan fails is dropped from the tail (the next
  schedule scans it again).
Only scanner messages are tailed: an RDS deletion event asks for one reconciliation, not a tail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from labkit.backup.detector import DetectOutcome
from labkit.backup.rdsevents import is_rds_notification
from labkit.backup.scanner import InstanceMessage, spread_delay_s

log = logging.getLogger(__name__)
SCHEDULE, TIMEOUT, NOTHING, FAILED = "next-schedule", "timeout", "nothing-to-tail", "scans-failed"


@dataclass(frozen=True)
class TailTarget:
    """An instance to follow, until ``next_scan_at`` (epoch seconds) when the schedule scans it again."""

    message: InstanceMessage
    next_scan_at: float


@dataclass
class TailReport:
    rounds: int = 0
    scans: int = 0
    failures: int = 0
    stopped: str = NOTHING
    outcomes: dict[str, DetectOutcome] = field(default_factory=dict)  # instance id -> all rounds' sum

    def add(self, outcome: DetectOutcome) -> None:
        self.scans += 1
        known = self.outcomes.get(outcome.instance_id)
        self.outcomes[outcome.instance_id] = merged(known, outcome) if known else outcome


def merged(a: DetectOutcome, b: DetectOutcome) -> DetectOutcome:
    """Two scans of one instance as one outcome: counts added, lists joined, flags of the later scan."""
    values = {}
    for f in dataclasses.fields(DetectOutcome):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, bool):
            values[f.name] = y
        elif isinstance(x, int):
            values[f.name] = x + y
        elif isinstance(x, list):
            values[f.name] = [*x, *y]
        else:
            values[f.name] = y
    return DetectOutcome(**values)


def is_scheduled_scan(body: str) -> bool:
    """A scanner's message (tailed), not an RDS event (reconciled once)."""
    try:
        return not is_rds_notification(json.loads(body))
    except ValueError:
        return False


def targets(
    scanned: Iterable[tuple[InstanceMessage, float | None]], period_s: float, spread_s: float = 0.0
) -> list[TailTarget]:
    """(message, send time in epoch seconds or None) of the messages scanned -> one target per instance,
    followed until the earliest next scan of it: a period after this message became visible (its send
    time plus the scanner's delay for the instance, ``spread_s``). A message without a send time cannot be
    placed against the schedule: not tailed."""
    found: dict[str, TailTarget] = {}
    for message, sent_at in scanned:
        if sent_at is None:
            log.warning("%s: no SentTimestamp on its message, not tailed", message.instance_id)
            continue
        delay = spread_delay_s(message.instance_id, spread_s)
        target = TailTarget(message, sent_at + delay + period_s)
        known = found.get(message.instance_id)
        if known is None or target.next_scan_at < known.next_scan_at:
            found[message.instance_id] = target
    return list(found.values())


def tail(
    followed: Sequence[TailTarget],
    scan: Callable[[InstanceMessage], DetectOutcome],
    *,
    remaining_ms: Callable[[], int],
    poll_s: float,
    margin_s: float,
    first_round_s: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> TailReport:
    """Scan ``followed`` every ``poll_s`` while a whole round fits before both limits (module docstring).

    ``remaining_ms`` is the Lambda context's ``get_remaining_time_in_millis``; ``clock`` is epoch seconds
    (the schedule's times are), ``first_round_s`` the time the batch's own scan took."""
    report = TailReport()
    live = list(followed)
    expected = max(first_round_s, 0.0)
    while live:
        now = clock()
        wake = now + poll_s
        budget_end = now + remaining_ms() / 1000 - margin_s
        due = [t for t in live if wake + expected <= min(t.next_scan_at - margin_s, budget_end)]
        if not due:
            report.stopped = TIMEOUT if wake + expected > budget_end else SCHEDULE
            return report
        live = due
        sleep(poll_s)
        started = clock()
        for target in list(live):
            try:
                report.add(scan(target.message))
            except Exception:  # a throttled or failed scan: the next schedule scans this instance again
                log.exception("tail of %s failed: dropped until its next scan", target.message.instance_id)
                report.failures += 1
                live.remove(target)
        report.rounds += 1
        expected = max(expected, clock() - started)
    report.stopped = FAILED if report.failures else NOTHING
    return report


__all__ = ["TailReport", "TailTarget", "is_scheduled_scan", "merged", "tail", "targets"]
