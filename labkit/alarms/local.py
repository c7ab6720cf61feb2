"""``labkit alarms`` on the local lab: the rules of labkit.alarms, evaluated against what the lab has.

There is no CloudWatch locally, so each rule reads what stands for its metric (``AlarmRule.local``):
- ``lost``/``failed``: tracking-table items that reached LOST/FAILED within the rule's window (the
  metrics count transitions per period, so an old LOST file stops paging on AWS too);
- ``lag``: for files whose copy caught up within the window, last write -> last table update (ms), what
  the downloader's BackupLag measures;
- ``history``: the scan periods the worst instance's kept audit history covers, judged (labkit.backup.sizing)
  on the last listing the detector recorded (the table's live items), as the detector's HistoryCoverScans;
- ``queue``: the queue's visible messages (moto SQS);
- ``errors``: the local runtime's error counter of the function, since the runtime started;
- ``heartbeat``: whether the scanner ran within the window (GET /labkit-api/runtime), with CloudWatch's
  grace for a lab younger than the window (INSUFFICIENT_DATA until then).
Rules with no local stand-in (throttles, iterator age) are reported as INSUFFICIENT_DATA and never fire.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.alarms.rules import AlarmRule
from labkit.backup import gaps
from labkit.backup import table as t
from labkit.backup.sizing import HistoryPolicy, assess, listings_from_items
from labkit.config import LabConfig
from labkit.errors import LabkitError

ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"


class AlarmSourceError(LabkitError):
    """A resource the local alarms read is missing or unreadable."""


@dataclass
class LocalReadings:
    """What the local lab showed at ``now`` (epoch seconds): everything the rules are evaluated on."""

    now: float
    items: list[dict[str, Any]]
    queue_messages: dict[str, int]
    runtime: dict[str, Any] | None  # GET /labkit-api/runtime; None when no runtime answers
    started_at: float | None = None  # when the lab service started (its state file), if known
    history_policy: HistoryPolicy | None = None  # what the detector judges listings by (None: not judged)
    notes: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # gap records (labkit.backup.gaps)


@dataclass(frozen=True)
class AlarmResult:
    rule: AlarmRule
    state: str
    value: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "alarm": self.rule.key,
            "title": self.rule.title,
            "state": self.state,
            "value": self.value,
            "threshold": self.rule.threshold,
            "comparison": self.rule.comparison,
            "metrics": [f"{r.namespace}/{r.name} {r.dims}" for r in self.rule.metrics],
            "reason": self.reason,
        }


def _ms(value: Any) -> float | None:
    return float(value) if value is not None else None


def _changed_within(item: dict[str, Any], since_ms: float) -> bool:
    stamp = _ms(item.get("vanished_at")) if item.get("state") == t.LOST else None
    stamp = stamp or _ms(item.get("updated_at"))
    return stamp is not None and stamp >= since_ms


def local_value(rule: AlarmRule, r: LocalReadings) -> tuple[float | None, str]:
    """The local stand-in for the rule's metric over its window: (value or None for no data, what it is)."""
    since_ms = (r.now - rule.window_s) * 1000
    if rule.local in ("lost", "failed"):
        state = t.LOST if rule.local == "lost" else t.FAILED
        hits = [i for i in r.items if i.get("state") == state and _changed_within(i, since_ms)]
        total = sum(1 for i in r.items if i.get("state") == state)
        what = f"{len(hits)} file(s) {state} in the last {rule.window_s} s ({total} in the table)"
        return (float(len(hits)) if hits else None), what
    if rule.local == "gaps":
        recent = [g for g in r.gaps if float(g.get("created_at", 0)) >= since_ms]
        open_ = [g for g in r.gaps if "acknowledged_at" not in g]
        what = (
            f"{len(recent)} gap(s) recorded in the last {rule.window_s} s "
            f"({len(r.gaps)} in the table, {len(open_)} not acknowledged: `labkit gaps`)"
        )
        return (float(len(recent)) if recent else None), what
    if rule.local == "lag":
        lags = [lag for _, lag in caught_up(r.items, since_ms)]
        if not lags:
            return None, f"no copy caught up in the last {rule.window_s} s"
        return max(lags), f"max lag {max(lags) / 1000:.1f} s over {len(lags)} file(s) caught up"
    if rule.local == "history":
        return _history_cover(r)
    if rule.local == "queue":
        depth = r.queue_messages.get(rule.local_arg)
        return (None if depth is None else float(depth)), f"{depth} message(s) visible in {rule.local_arg}"
    if rule.local == "errors":
        if r.runtime is None:
            return None, "the local Lambda runtime does not answer"
        errors = int(r.runtime.get(rule.local_arg, {}).get("errors", 0))
        last = r.runtime.get(rule.local_arg, {}).get("last_error", "")
        return float(
            errors
        ) if errors else None, f"{errors} failed invocation(s) since the runtime started {last}"
    if rule.local == "heartbeat":
        if r.runtime is None or not r.runtime.get("running"):
            return None, "the local Lambda runtime is not running: nothing scans"
        last = float(r.runtime.get("scanner", {}).get("last_invoked_at") or 0.0)
        if last >= r.now - rule.window_s:
            return 1.0, f"scanner ran {r.now - last:.0f} s ago"
        return None, "scanner never ran" if not last else f"scanner last ran {r.now - last:.0f} s ago"
    return None, "not measurable on the local lab"


def _history_cover(r: LocalReadings) -> tuple[float | None, str]:
    if r.history_policy is None:
        return None, "no sizing policy given"
    judged = {
        instance: assess(listing, scheme, r.history_policy, r.now * 1000)
        for instance, (scheme, listing) in listings_from_items(r.items).items()
    }
    measured = {i: h for i, h in judged.items() if h.covered_scans is not None}
    if not measured:
        return None, f"no instance with a rotation to measure ({len(judged)} listed)"
    worst, cover = min(measured.items(), key=lambda kv: float(kv[1].covered_scans or 0.0))
    return float(cover.covered_scans or 0.0), (
        f"{worst}: kept history covers {cover.covered_scans:,.2f} scan periods of {cover.scan_period_s:g} s "
        f"({cover.verdict}){'; change ' + cover.change if cover.change else ''}"
    )


def evaluate(rules: list[AlarmRule], readings: LocalReadings) -> list[AlarmResult]:
    """Each rule's state on the local lab, decided as CloudWatch would (labkit.alarms.AlarmRule.breaches)."""
    results = []
    for rule in rules:
        value, what = local_value(rule, readings)
        if not rule.local:
            state = INSUFFICIENT
        elif rule.breaches(value):
            young = readings.started_at is not None and readings.now - readings.started_at < rule.window_s
            state = INSUFFICIENT if value is None and young else ALARM  # CloudWatch waits one window
        else:
            state = OK
        results.append(AlarmResult(rule, state, value, what))
    return results


def caught_up(items: list[dict[str, Any]], since_ms: float) -> list[tuple[dict[str, Any], float]]:
    """Files whose copy caught up at or after ``since_ms``, each with its lag (last write -> caught up, ms)."""
    return [
        (i, float(i["updated_at"]) - float(i["last_written"]))
        for i in items
        if i.get("updated_at") is not None
        and i.get("last_written") is not None
        and int(i.get("copied_bytes", 0)) >= int(i.get("size", 0)) > 0
        and float(i["updated_at"]) >= since_ms
    ]


def read_local(config: LabConfig, *, now: float | None = None) -> LocalReadings:
    """Read the table, the queues and the runtime counters of the local lab (or the config's endpoint)."""
    from labkit.local.state import read_state

    endpoint = aws.endpoint_url(config)
    names = config.names
    table = aws.table(config)
    try:
        items, recorded_gaps = gaps.files_and_gaps(table)
    except ClientError as exc:
        raise AlarmSourceError(
            f"cannot read the tracking table {names.table} ({exc.response['Error']['Code']}): "
            "deploy the application resources first (`labkit local up` does)"
        ) from exc
    sqs = aws.client("sqs", config)
    depths, notes = {}, []
    for queue in (names.dlq, names.stream_failures):
        try:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            depths[queue] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        except ClientError as exc:
            notes.append(f"queue {queue}: {exc.response['Error']['Code']}")
    state = read_state(config)
    return LocalReadings(
        now=time.time() if now is None else now,
        items=items,
        gaps=recorded_gaps,
        queue_messages=depths,
        runtime=_runtime_stats(str(endpoint)),
        started_at=state.started_at if state else None,
        notes=notes,
        history_policy=HistoryPolicy.for_lab(config),
    )


def _runtime_stats(endpoint: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/labkit-api/runtime", timeout=10) as answer:
            stats: dict[str, Any] = json.loads(answer.read())
            return stats
    except (urllib.error.URLError, ValueError):  # 404: the service runs no runtime (deploy failed)
        return None
