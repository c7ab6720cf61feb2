"""``labkit check --target aws``: after a deploy, each promise of the lab proven on the account, in minutes.

Named checks, each PASS or FAIL with what was seen and what to do:

- ``backup copy``: the scanner's ``live`` alias invoked now (labkit.ops.scans), the wait until nothing is
  pending and something is in S3, then the reconciliation (labkit.verify) must be clean;
- ``alarm notification``: one of the stack's alarms set to ALARM, its history read until CloudWatch says
  "Successfully executed action" (the topic took the notification), then its former state restored;
- ``heartbeat metric``: the scanner's heartbeat, which the heartbeat alarm watches, exists in CloudWatch;
- ``event subscription``: RDS's subscription is active, enabled, every category, the lab's two instances;
- ``athena query``: one saved query (labkit.query) runs to SUCCEEDED in the lab's workgroup;
- the bucket's promises (labkit.ops.bucket_checks): SSE-KMS, public access blocked, TLS only, Object Lock.

Every wait is bounded (``timeout_s``). One check that errors is a FAIL; the others still run. The local lab
has none of what this proves (alarm actions, an RDS event subscription, Athena, bucket policies that moto
would enforce without their conditions), so the local target is refused with the commands to use there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.ops.bucket_checks import LockSettings, bucket_checks
from labkit.ops.check_result import FAIL, PASS, CheckResult
from labkit.ops.prerequisites import require_aws
from labkit.resources import event_subscription_name

POLL_S = 5.0
DEFAULT_TIMEOUT_S = 300.0
ALARM_PATH_RULE = "scanner-heartbeat"  # the alarm the test notification goes through
EXECUTED = "Successfully executed action"  # CloudWatch's alarm history summary of a delivered action
CHECK_QUERY = "top_users"  # one cheap saved query over the last day of both instances
SOURCE_TYPE = "db-instance"


class CheckTargetError(LabkitError):
    """``labkit check`` was asked for a target it cannot prove anything on."""


def run_checks(
    config: LabConfig, *, expected_lock: LockSettings | None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[CheckResult]:
    """Every check, in order; ``expected_lock``: Object Lock as the stack configured it (None: unknown)."""
    if config.target != "aws":
        raise CheckTargetError(
            "labkit check proves a deployed stack on AWS: run it with --target aws. The local lab has no "
            "alarm actions, RDS event subscription or Athena to check; there, `labkit scan --wait`, "
            "`labkit verify` and `labkit alarms` prove the pipeline"
        )
    require_aws(config, "check")
    results = [
        _guarded("backup copy", lambda: _backup(config, timeout_s)),
        _guarded("alarm notification", lambda: _alarm_path(config, timeout_s)),
        _guarded("heartbeat metric", lambda: _heartbeat(config)),
        _guarded("event subscription", lambda: _event_subscription(config)),
        _guarded("athena query", lambda: _athena(config, timeout_s)),
    ]
    return results + bucket_checks(config, expected_lock)


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except ClientError as exc:
        return CheckResult.failed(
            name,
            f"AWS answered {aws.error_code(exc)}: {exc}",
            "the caller needs the action the error names; the lab stack must be deployed",
        )
    except LabkitError as exc:
        return CheckResult.failed(name, str(exc), "fix what the message names, then run the check again")


def _backup(config: LabConfig, timeout_s: float) -> CheckResult:
    from labkit.ops.scans import scan
    from labkit.verify import reconcile_target

    name, logs = "backup copy", f"/aws/lambda/{config.names.scanner}, /aws/lambda/{config.names.downloader}"
    try:
        result = scan(config, wait=True, timeout_s=timeout_s)
    except LabkitError as exc:
        return CheckResult.failed(name, str(exc), f"read the functions' logs ({logs})")
    if not result.queued:
        return CheckResult.failed(
            name,
            f"the scanner queued no instance (skipped: {', '.join(result.skipped or []) or 'none'})",
            f"the lab's instances must be {config.engines} and not opted out ({config.opt_out_tag})",
        )
    in_s3 = int(result.after["bytes backed up"])
    copied = in_s3 - int(result.before["bytes backed up"])
    if in_s3 <= 0:
        return CheckResult.failed(
            name,
            f"the scanner queued {', '.join(result.queued)}; once nothing was pending, S3 held no backed-up "
            f"byte ({result.after['files']} file(s) tracked)",
            f"`labkit alarms --target aws`, and the functions' logs ({logs}); a larger --timeout",
        )
    report = reconcile_target(config)
    summary = report.summary()
    if not report.clean:
        problems = {k: v for k, v in summary.items() if k.endswith(("_files", "gaps")) and v}
        return CheckResult.failed(
            name,
            f"verify is not clean: {', '.join(f'{k} {v}' for k, v in problems.items())}",
            "`labkit verify --target aws` lists each file and what is wrong with it",
        )
    return CheckResult.passed(
        name,
        f"queued {len(result.queued)} instance(s); {copied:,} bytes copied now, {in_s3:,} in S3; "
        f"verify clean over {summary['files']} file(s)",
    )


def _alarm_path(config: LabConfig, timeout_s: float) -> CheckResult:
    from labkit.alarms import alarm_name, alarm_rules

    name = "alarm notification"
    [rule] = [r for r in alarm_rules(config) if r.key == ALARM_PATH_RULE]
    alarm = alarm_name(config, rule)
    cloudwatch = aws.client("cloudwatch", config)
    found = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    if not found:
        return CheckResult.failed(
            name, f"no alarm {alarm}", "deploy the lab stack (`labkit deploy --target aws`)"
        )
    before = found[0]
    seen = {_history_key(i) for i in _action_history(cloudwatch, alarm)}
    cloudwatch.set_alarm_state(
        AlarmName=alarm,
        StateValue="ALARM",
        StateReason="labkit check: a test notification through the alarm path, not a real alarm",
    )
    try:
        new = _wait_for_action(cloudwatch, alarm, seen, timeout_s)
    finally:  # its former state back (OK on a healthy lab); CloudWatch re-evaluates it at the next period
        cloudwatch.set_alarm_state(
            AlarmName=alarm,
            StateValue=before["StateValue"],
            StateReason="labkit check: test notification over",
        )
    executed = [i for i in new if EXECUTED in i.get("HistorySummary", "")]
    if executed:
        return CheckResult.passed(name, f"{alarm}: {executed[0]['HistorySummary']}")
    last = new[-1]["HistorySummary"] if new else f"no action in its history within {timeout_s:.0f} s"
    return CheckResult.failed(
        name,
        f"{alarm}: {last} (ActionsEnabled {before.get('ActionsEnabled')}, "
        f"AlarmActions {before.get('AlarmActions') or 'none'})",
        "the alarm's actions must be enabled and publish to the alarm topic, whose key policy lets "
        "CloudWatch use the key: `labkit deploy --target aws`",
    )


def _action_history(cloudwatch: Any, alarm: str) -> list[dict[str, Any]]:
    since = datetime.now(UTC) - timedelta(hours=1)
    items: list[dict[str, Any]] = []
    pages = cloudwatch.get_paginator("describe_alarm_history").paginate(
        AlarmName=alarm, HistoryItemType="Action", StartDate=since
    )
    for page in pages:
        items.extend(page.get("AlarmHistoryItems", []))
    return items


def _history_key(item: dict[str, Any]) -> tuple[str, str]:
    return (str(item.get("Timestamp")), str(item.get("HistorySummary")))


def _wait_for_action(
    cloudwatch: Any, alarm: str, seen: set[tuple[str, str]], timeout_s: float
) -> list[dict[str, Any]]:
    """The alarm's new action items, once one says it executed or the time is up."""
    started = time.monotonic()
    while True:
        new = [i for i in _action_history(cloudwatch, alarm) if _history_key(i) not in seen]
        if (
            any(EXECUTED in i.get("HistorySummary", "") for i in new)
            or time.monotonic() - started > timeout_s
        ):
            return new
        time.sleep(POLL_S)


def _heartbeat(config: LabConfig) -> CheckResult:
    from labkit.alarms import alarm_rules

    name = "heartbeat metric"
    [rule] = [r for r in alarm_rules(config) if r.key == "scanner-heartbeat"]
    metric = rule.metrics[0]
    dimensions = [{"Name": k, "Value": v} for k, v in metric.dimensions]
    found = aws.client("cloudwatch", config).list_metrics(
        Namespace=metric.namespace, MetricName=metric.name, Dimensions=dimensions, RecentlyActive="PT3H"
    )["Metrics"]
    shown = f"{metric.namespace}/{metric.name} {metric.dims}"
    if found:
        return CheckResult.passed(name, f"{shown} published in the last 3 hours")
    return CheckResult.failed(
        name,
        f"{shown} not published in the last 3 hours: the heartbeat alarm watches nothing",
        "the scanner's images must be of this labkit (`labkit deploy --target aws --version ...`) and its "
        "schedule enabled",
    )


def _event_subscription(config: LabConfig) -> CheckResult:
    name, subscription = "event subscription", event_subscription_name(config.project)
    rds = aws.client("rds", config)
    try:
        found = rds.describe_event_subscriptions(SubscriptionName=subscription)["EventSubscriptionsList"]
    except ClientError as exc:
        if aws.error_code(exc) != "SubscriptionNotFound":
            raise
        found = []
    if not found:
        return CheckResult.failed(
            name, f"no RDS event subscription {subscription}", "`labkit deploy --target aws`"
        )
    sub = found[0]
    expected = {config.writer_id, config.reader_id}
    wrong = []
    if sub.get("Status") != "active":
        wrong.append(f"status {sub.get('Status')}")
    if not sub.get("Enabled"):
        wrong.append("disabled")
    if sub.get("SourceType") != SOURCE_TYPE:
        wrong.append(f"source type {sub.get('SourceType')}")
    if set(sub.get("SourceIdsList") or []) != expected:
        wrong.append(f"sources {sorted(sub.get('SourceIdsList') or [])}, not {sorted(expected)}")
    if sub.get("EventCategoriesList"):
        wrong.append(f"only the categories {sub['EventCategoriesList']} (the deletion events need all)")
    if wrong:
        return CheckResult.failed(name, f"{subscription}: {'; '.join(wrong)}", "`labkit deploy --target aws`")
    return CheckResult.passed(name, f"{subscription}: active, every category, {', '.join(sorted(expected))}")


def _athena(config: LabConfig, timeout_s: float) -> CheckResult:
    """Started and waited for here, not through labkit.query's AthenaEngine: that one needs pandas for the
    rows, and a check needs only the query's final state."""
    from labkit.query import QUERIES
    from labkit.query.schema import athena_names

    name, names = "athena query", athena_names(config)
    today = datetime.now(UTC).date()
    sql = QUERIES[CHECK_QUERY].render(
        "athena", instance=(config.writer_id, config.reader_id), since=today - timedelta(days=1), until=today
    )
    athena = aws.client("athena", config)
    execution = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": names.database}, WorkGroup=names.workgroup
    )["QueryExecutionId"]
    started = time.monotonic()
    while True:
        state = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
        status = state["Status"]["State"]
        if status in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() - started > timeout_s:
            break
        time.sleep(POLL_S)
    where = f"{CHECK_QUERY} in workgroup {names.workgroup} ({execution})"
    if status == "SUCCEEDED":
        scanned = state.get("Statistics", {}).get("DataScannedInBytes", 0)
        return CheckResult.passed(name, f"{where}: SUCCEEDED, {scanned:,} bytes scanned")
    reason = state["Status"].get("StateChangeReason") or f"still {status} after {timeout_s:.0f} s"
    return CheckResult.failed(
        name,
        f"{where}: {status}: {reason}",
        f"the Glue table {names.database}.{names.table} and the workgroup's results location must exist "
        "(`labkit deploy --target aws`); the caller needs athena, glue and s3 read access",
    )


__all__ = ["FAIL", "PASS", "CheckResult", "CheckTargetError", "LockSettings", "run_checks"]
