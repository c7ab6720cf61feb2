"""The lab stack's alarms under Pulumi mocks: each alarm watches a metric somebody really writes (the names,
namespace and dimensions of labkit.backup.metrics, or AWS's for the functions and queues the stack makes),
notifies an encrypted topic, and decides missing data on purpose."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pulumi_harness
import pytest
from alarms_program import ALARM, KEY, TOPIC, fake_state, run
from policy_lint import blocking_findings, with_implicit_resource
from pulumi_harness import (
    ACCOUNT,
    LAB_DIR,
    LAB_PROJECT,
    REGION,
    ProgramRun,
    ecr_outputs,
    lab_config,
)

from labkit.backup import metrics as m

REQUIRED = {
    "files-lost",
    "gaps",  # issue 15: windows in which files may have come and gone unseen
    "files-failed",
    "complete-download-fallbacks",  # issue 18: the REST path refused, files paged instead
    "backup-lag",
    "history-cover",
    "scanner-heartbeat",
    "dlq-not-empty",
    "stream-failures-not-empty",
    "stream-iterator-age",
    *(f"{f}-{what}" for f in ("scanner", "detector", "downloader") for what in ("errors", "throttles")),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[ProgramRun]:
    yield run()


def written_metrics(stack: ProgramRun) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Every (namespace, name, dimensions) that exists in CloudWatch for this stack: the handlers' metrics
    as metrics.py names them, and AWS's for the functions and queues the program declares."""
    found = {
        (m.NAMESPACE, name, tuple(m.dimensions(key).items()))
        for name, spec in m.METRICS.items()
        for key in spec.emitted_by
    }
    for function in stack.of_type("aws:lambda/function:Function").values():
        for metric in ("Errors", "Throttles", "IteratorAge"):
            found.add(("AWS/Lambda", metric, (("FunctionName", function["name"]),)))
    for queue in stack.of_type("aws:sqs/queue:Queue").values():
        found.add(("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue["name"]),)))
    return found


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    if "metricName" in alarm:
        return [(alarm["namespace"], alarm["metricName"], tuple(sorted(alarm["dimensions"].items())))]
    return [
        (
            q["metric"]["namespace"],
            q["metric"]["metricName"],
            tuple(sorted(q["metric"]["dimensions"].items())),
        )
        for q in alarm["metricQueries"]
        if "metric" in q
    ]


def test_the_stack_has_every_alarm_the_issue_asks_for(stack: ProgramRun) -> None:
    assert set(stack.of_type(ALARM)) == REQUIRED


def test_each_alarm_watches_a_metric_that_is_really_written(stack: ProgramRun) -> None:
    exists = {(ns, name, tuple(sorted(dims))) for ns, name, dims in written_metrics(stack)}
    for key, alarm in stack.of_type(ALARM).items():
        metrics = watched(alarm)
        assert metrics, key
        assert [x for x in metrics if x not in exists] == [], f"{key} watches a metric nobody writes"


def test_files_lost_sums_both_emitters_and_the_heartbeat_is_the_scanners(stack: ProgramRun) -> None:
    lost = stack.one(ALARM, "files-lost")
    dims = sorted(dict(dimensions)["service"] for _, _, dimensions in watched(lost))
    assert (
        dims == sorted(m.SERVICES[k] for k in m.emitters(m.FILES_LOST)) == ["log-detector", "log-downloader"]
    )
    (total,) = [q for q in lost["metricQueries"] if q.get("returnData")]
    assert total["expression"] == "SUM(METRICS())"
    beat = stack.one(ALARM, "scanner-heartbeat")
    assert (beat["namespace"], beat["metricName"], beat["dimensions"]) == (
        m.NAMESPACE,
        m.SCANNER_HEARTBEAT,
        {"service": "db-scanner"},
    )


def test_history_cover_pages_when_the_worst_instance_keeps_fewer_than_the_safe_scans(
    stack: ProgramRun,
) -> None:
    alarm = stack.one(ALARM, "history-cover")
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (
        m.NAMESPACE,
        m.HISTORY_COVER_SCANS,
        {"service": "log-detector"},
    )
    assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        3.0,  # history_safe_scans' default
    )


def test_missing_data_is_decided_on_every_alarm_and_a_silent_scanner_pages(stack: ProgramRun) -> None:
    missing = {key: alarm.get("treatMissingData") for key, alarm in stack.of_type(ALARM).items()}
    assert missing.pop("scanner-heartbeat") == "breaching"
    assert set(missing.values()) == {"notBreaching"}
    beat = stack.one(ALARM, "scanner-heartbeat")
    assert (beat["statistic"], beat["comparisonOperator"], beat["threshold"]) == (
        "SampleCount",
        "LessThanThreshold",
        1,
    )
    assert beat["period"] % 60 == 0 and beat["evaluationPeriods"] == 2
    for key, alarm in stack.of_type(ALARM).items():
        assert alarm["alarmDescription"].count("Missing data:") == 1, key


def test_every_alarm_notifies_the_kms_encrypted_topic(stack: ProgramRun) -> None:
    topic = stack.one(TOPIC, "alarms")
    key_arn = stack.state[(KEY, "alarms-key")]["arn"]
    assert topic["kmsMasterKeyId"] == key_arn
    assert stack.one(KEY, "alarms-key")["enableKeyRotation"] is True
    topic_arn = stack.state[(TOPIC, "alarms")]["arn"]
    for key, alarm in stack.of_type(ALARM).items():
        assert alarm["alarmActions"] == [topic_arn], key
        assert alarm["okActions"] == [topic_arn], key


def test_cloudwatch_may_use_the_topic_key_and_publish_only_for_this_stacks_alarms(stack: ProgramRun) -> None:
    # the alarms guard sits on sns:Publish; the key grant is unconditioned (issue 18 item 3, next test)
    policy = json.loads(stack.one(KEY, "alarms-key")["policy"])
    (grant,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    topic_policy = json.loads(stack.one("aws:sns/topicPolicy:TopicPolicy", "alarms-publish")["policy"])
    (publish,) = [
        s for s in topic_policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == stack.state[(TOPIC, "alarms")]["arn"]
    alarm_arns = [stack.state[(ALARM, key)]["arn"] for key in REQUIRED]
    condition = publish["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    pattern = condition["ArnLike"]["aws:SourceArn"]
    assert [arn for arn in alarm_arns if not fnmatch.fnmatchcase(arn, pattern)] == []  # every alarm may
    assert not fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:other-app-x", pattern)


def test_every_service_that_publishes_to_the_topic_may_encrypt_to_its_key_as_the_sns_guide_shows(
    stack: ProgramRun,
) -> None:
    # GIVEN every service principal the topic policy lets publish (CloudWatch's alarms, RDS's events)
    topic_arn = stack.state[(TOPIC, "alarms")]["arn"]
    topic_policy = json.loads(stack.one("aws:sns/topicPolicy:TopicPolicy", "alarms-publish")["policy"])
    publishers = {
        s["Principal"]["Service"]
        for s in topic_policy["Statement"]
        if s["Effect"] == "Allow" and "Service" in s.get("Principal", {})
    }
    assert publishers == {"cloudwatch.amazonaws.com", "events.rds.amazonaws.com"}
    key_policy = json.loads(stack.one(KEY, "alarms-key")["policy"])
    for service in publishers:
        (grant,) = [s for s in key_policy["Statement"] if s.get("Principal") == {"Service": service}]
        # THEN each may GenerateDataKey*/Decrypt, with no condition the KMS request may not carry: AWS's
        # guide ("Enable compatibility between event sources from AWS services and encrypted topics") shows
        # none, and aws:SourceArn/aws:SourceAccount on it would make alarms fire and deliver nothing
        assert grant["Effect"] == "Allow", service
        assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(grant["Action"]), service
        conditions = {key for block in grant.get("Condition", {}).values() for key in block}
        assert conditions <= {"kms:EncryptionContext:aws:sns:topicArn"}, (service, conditions)
        for block in grant.get("Condition", {}).values():
            assert block.get("kms:EncryptionContext:aws:sns:topicArn", topic_arn) == topic_arn


def test_parliament_finds_nothing_in_the_new_policies(stack: ProgramRun) -> None:
    # A key policy's Resource "*" is the key itself; its kms:* statement for the account root is AWS's
    # default key policy (without it IAM policies cannot grant the key), linted as written.
    documents = {
        "key policy": with_implicit_resource(stack.one(KEY, "alarms-key")["policy"], "unused"),
        "topic policy": with_implicit_resource(
            stack.one("aws:sns/topicPolicy:TopicPolicy", "alarms-publish")["policy"], "unused"
        ),
    }
    assert {name: found for name, doc in documents.items() if (found := blocking_findings(doc))} == {}


def test_lag_threshold_and_email_come_from_stack_config(stack: ProgramRun) -> None:
    assert stack.one(ALARM, "backup-lag")["threshold"] == 1800 * 1000  # the default
    # the e-mail is opt-in (the detector's queue is always subscribed: test_rds_events_stack)
    assert "alarms-email" not in stack.of_type("aws:sns/topicSubscription:TopicSubscription")
    configured = run(backupLagAlarmSeconds="600", alarmEmail="oncall@example.com")
    assert configured.one(ALARM, "backup-lag")["threshold"] == 600 * 1000
    assert configured.one(ALARM, "stream-iterator-age")["threshold"] == 600 * 1000
    subscription = configured.one("aws:sns/topicSubscription:TopicSubscription", "alarms-email")
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")
    assert subscription["topic"] == configured.state[(TOPIC, "alarms")]["arn"]


def test_a_malformed_alarm_email_fails_before_deploying() -> None:
    with pytest.raises(Exception, match="alarmEmail"):
        run(alarmEmail="not-an-address")


def test_dashboard_shows_the_local_panels_over_written_metrics_and_every_alarm(stack: ProgramRun) -> None:
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard", "pipeline")["dashboardBody"])
    graphs = [w["properties"] for w in body["widgets"] if w["type"] == "metric"]
    titles = [g["title"] for g in graphs]
    assert titles[:3] == ["Audit files by backup state", "Audit bytes backed up over time", "Backup lag"]
    exists = written_metrics(stack)
    for graph in graphs:
        assert graph["region"] == REGION
        for series in graph["metrics"]:
            ns, name, *dims, _options = series
            assert (ns, name, tuple(zip(dims[::2], dims[1::2], strict=True))) in exists, (
                graph["title"],
                series,
            )
    (alarms,) = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarms) == sorted(stack.state[(ALARM, key)]["arn"] for key in REQUIRED)


@pytest.mark.parametrize(
    ("schedule", "period"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600)],
)
def test_the_heartbeat_period_is_the_deployed_schedules_not_the_local_ticker(
    monkeypatch: pytest.MonkeyPatch, schedule: str, period: int
) -> None:
    # GIVEN a scan schedule other than the local ticker's 60 s (issue 18 item 7)
    monkeypatch.setenv("LABKIT_SCAN_SCHEDULE", schedule)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulumi_harness, "fake_state", fake_state)
        stack = pulumi_harness._run(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs())
    assert stack.one("aws:cloudwatch/eventRule:EventRule", "scan-schedule")["scheduleExpression"] == schedule
    # THEN the heartbeat waits two of the scanner's real periods before paging, not two minutes
    beat = stack.one(ALARM, "scanner-heartbeat")
    assert (beat["period"], beat["evaluationPeriods"]) == (period, 2)
