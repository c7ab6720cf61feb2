"""``labkit check --target aws`` against the emulator: a deployed lab passes every check, and each broken
promise, injected one at a time, fails exactly its own check and the exit code.

Real: the command (typer's CliRunner on labkit.cli.app), every AWS call but the three below (moto's server
over HTTP, boto3's default credential chain): the bucket's encryption, public-access block and Object Lock,
the alarms, alarm state changes and metrics in CloudWatch, the RDS event subscription, the Athena workgroup
and query executions, the pipeline cores that detect and copy, and the reconciliation. Faked, each because
moto cannot do it (the rest of each check stays real):

- the scanner Lambda's run: moto cannot run an image function; its answer is queued with moto's
  lambda-simple API and the test copies the file as the pipeline would (as in test_cli_targets.py), and
  publishes the heartbeat metric the scanner's EMF would;
- ``DescribeAlarmHistory``: moto does not implement it. The stand-in plays CloudWatch's action executor from
  moto's real alarm: while the alarm is in ALARM with actions enabled, each alarm action is "Successfully
  executed action <arn>";
- ``GetBucketPolicy``: moto enforces a Deny without evaluating its aws:SecureTransport condition, so the real
  TLS-only policy would refuse every object request of the emulator's plain-HTTP loopback. The stand-in
  answers the policy the stack attaches (labkit.resources.tls_only_policy), or none;
- a failing Athena query: moto's Athena runs no SQL and every query SUCCEEDs; the "query failing" case
  answers ``GetQueryExecution`` with FAILED as Athena does for a missing table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner, Result

from labkit import aws
from labkit.alarms import alarm_name, alarm_rules
from labkit.cli import app
from labkit.config import LabConfig
from labkit.local.deploy import deploy_local
from labkit.ops import CheckTargetError
from labkit.query.schema import athena_names
from labkit.resources import event_subscription_name, tls_only_policy
from tests.functional.aws_doubles import (
    LAB_PROJECT,
    REGION,
    FakeAutomation,
    FakeClock,
    backed_up,
    local_twin,
    scanner_answers,
)
from tests.support.alarms_lab import put_rule_alarm
from tests.support.emulated import EmulatedAccount

pytest_plugins = ["tests.functional.aws_fixtures"]  # config, pulumi, tools, lambda_echoes

CHECKS = [
    "backup copy",
    "alarm notification",
    "heartbeat metric",
    "event subscription",
    "athena query",
    "bucket encryption",
    "bucket public access",
    "bucket TLS only",
    "bucket object lock",
]
LOCK = {"days": 30, "mode": "GOVERNANCE"}


class Stand:
    """What the fakes answer, and what a case changes: the bucket policy, whether Athena's query fails."""

    def __init__(self, account: EmulatedAccount, config: LabConfig) -> None:
        self.account, self.config = account, config
        arn = f"arn:aws:s3:::{config.names.bucket}"
        self.policy: str | None = tls_only_policy([arn, f"{arn}/*"], "s3:*")
        self.query_fails = False
        self.copy_on_scan = True
        self.copied: list[bytes] = []

    def alarm_history(self, params: dict[str, Any]) -> dict[str, Any]:
        cloudwatch = self.account.client("cloudwatch", region_name=REGION)
        items = []
        for alarm in cloudwatch.describe_alarms(AlarmNames=[params["AlarmName"]])["MetricAlarms"]:
            if alarm["StateValue"] == "ALARM" and alarm["ActionsEnabled"]:
                items += [
                    {
                        "AlarmName": alarm["AlarmName"],
                        "Timestamp": alarm["StateUpdatedTimestamp"],
                        "HistoryItemType": "Action",
                        "HistorySummary": f"Successfully executed action {action}",
                    }
                    for action in alarm.get("AlarmActions", [])
                ]
        return {"AlarmHistoryItems": items}

    def bucket_policy(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.policy is None:
            return {"Error": {"Code": "NoSuchBucketPolicy", "Message": "The bucket policy does not exist"}}
        return {"Policy": self.policy}

    def query_execution(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if not self.query_fails:
            return None  # moto's own answer
        status = {
            "State": "FAILED",
            "StateChangeReason": "TABLE_NOT_FOUND: Table audit_events does not exist",
        }
        return {"QueryExecution": {"QueryExecutionId": params["QueryExecutionId"], "Status": status}}


@pytest.fixture
def stand(deployed_lab: LabConfig, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch) -> Stand:
    """The three stand-ins, on every client labkit.aws makes (the rest of each client is botocore's)."""
    stand = Stand(account, deployed_lab)
    fakes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any] | None]] = {
        ("cloudwatch", "DescribeAlarmHistory"): stand.alarm_history,
        ("s3", "GetBucketPolicy"): stand.bucket_policy,
        ("athena", "GetQueryExecution"): stand.query_execution,
    }
    real = aws.client

    def client(service: str, config: LabConfig, **kwargs: Any) -> Any:
        made = real(service, config, **kwargs)
        for (fake_service, operation), answer in fakes.items():
            if fake_service == service:
                made.meta.events.register(f"before-parameter-build.{service}.{operation}", _keep_params)
                made.meta.events.register(f"before-call.{service}.{operation}", _answering(answer))
        return made

    monkeypatch.setattr(aws, "client", client)
    return stand


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["api_params"] = dict(params)  # before-call sees the serialized request, not these


def _answering(answer: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Callable[..., Any]:
    def before_call(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        parsed = answer(context["api_params"])
        if parsed is None:
            return None
        status = 404 if "Error" in parsed else 200
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status}
        return AWSResponse("https://stand-in", status, {}, None), parsed

    return before_call


@pytest.fixture
def fresh_cloudwatch() -> Iterator[None]:
    """moto's backends outlive a server: a heartbeat another test published must not pass this one."""
    from moto.backends import get_backend

    get_backend("cloudwatch").reset()
    yield
    get_backend("cloudwatch").reset()


@pytest.fixture
def deployed_lab(
    config: LabConfig,
    account: EmulatedAccount,
    pulumi: FakeAutomation,
    tools: Path,
    lambda_echoes: None,
    fresh_cloudwatch: None,
) -> LabConfig:
    """What `labkit deploy --target aws` leaves in a healthy account, as far as the checks look."""
    deploy_local(local_twin(config))  # bucket (SSE-KMS, public access blocked, versioned), table, functions
    s3 = account.client("s3")
    s3.put_object_lock_configuration(
        Bucket=config.names.bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": LOCK["mode"], "Days": LOCK["days"]}},
        },
    )
    pulumi.outputs[LAB_PROJECT] = {"bucketName": config.names.bucket, "objectLock": LOCK}
    topic = account.client("sns", region_name=REGION).create_topic(Name=f"{config.project}-alarms")[
        "TopicArn"
    ]
    cloudwatch = account.client("cloudwatch", region_name=REGION)
    for rule in alarm_rules(config):
        put_rule_alarm(cloudwatch, alarm_name(config, rule), rule, AlarmActions=[topic], OKActions=[topic])
    account.rds.create_event_subscription(
        SubscriptionName=event_subscription_name(config.project),
        SnsTopicArn=topic,
        SourceType="db-instance",
        SourceIds=[config.writer_id, config.reader_id],
        Enabled=True,
    )
    account.client("athena").create_work_group(Name=athena_names(config).workgroup)
    return config


@pytest.fixture
def scanner_runs(stand: Stand, account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The scanner's next run: it queues one instance, emits its heartbeat, and (unless a case says not)
    the pipeline copies the instance's file during the wait. Waits take no time (FakeClock)."""
    config = stand.config
    instance = f"{config.project}-db"
    scanner_answers(account, {"sent": [instance], "skipped": []})
    [heartbeat] = [r for r in alarm_rules(config) if r.key == "scanner-heartbeat"]
    metric = heartbeat.metrics[0]
    account.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace=metric.namespace,
        MetricData=[
            {
                "MetricName": metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions],
                "Timestamp": datetime.now(UTC),
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )
    clock = FakeClock()

    def pipeline_acts() -> None:
        if stand.copy_on_scan and not stand.copied:
            stand.copied.append(backed_up(account, config, instance))

    clock.on_sleep = pipeline_acts
    monkeypatch.setattr("labkit.ops.scans.time", clock)
    monkeypatch.setattr("labkit.ops.check.time", clock)
    return clock


def labkit(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def checks(result: Result) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def test_a_healthy_deployment_passes_every_check(stand: Stand, scanner_runs: FakeClock) -> None:
    # GIVEN a deployed lab whose scanner runs and whose pipeline copies
    # WHEN the check runs on aws
    result = labkit("check", "--target", "aws", "--json")
    # THEN every check passed, and the exit code says so
    assert result.exit_code == 0, result.output
    assert checks(result) == dict.fromkeys(CHECKS, "PASS")
    details = {c["name"]: c["detail"] for c in json.loads(result.stdout)["checks"]}
    assert f"{len(stand.copied[0]):,} bytes copied now" in details["backup copy"]
    assert "Successfully executed action arn:aws:sns:" in details["alarm notification"]
    assert details["bucket object lock"] == "GOVERNANCE for 30 days, as configured"
    # AND the test notification's alarm is back in its former state
    cloudwatch = stand.account.client("cloudwatch", region_name=REGION)
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[f"{stand.config.project}-scanner-heartbeat"])[
        "MetricAlarms"
    ]
    assert alarm["StateValue"] == "OK"


def _public_access_off(stand: Stand) -> None:
    stand.account.client("s3").put_public_access_block(
        Bucket=stand.config.names.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )


def _no_encryption(stand: Stand) -> None:
    stand.account.client("s3").delete_bucket_encryption(Bucket=stand.config.names.bucket)


def _no_tls_policy(stand: Stand) -> None:
    stand.policy = None


def _subscription_disabled(stand: Stand) -> None:
    name, rds = event_subscription_name(stand.config.project), stand.account.rds
    [sub] = rds.describe_event_subscriptions(SubscriptionName=name)["EventSubscriptionsList"]
    rds.delete_event_subscription(SubscriptionName=name)  # moto has no ModifyEventSubscription
    rds.create_event_subscription(
        SubscriptionName=name,
        SnsTopicArn=sub["SnsTopicArn"],
        SourceType="db-instance",
        SourceIds=sub["SourceIdsList"],
        Enabled=False,
    )


def _alarm_actions_disabled(stand: Stand) -> None:
    stand.account.client("cloudwatch", region_name=REGION).disable_alarm_actions(
        AlarmNames=[f"{stand.config.project}-scanner-heartbeat"]
    )


def _query_fails(stand: Stand) -> None:
    stand.query_fails = True


def _no_heartbeat(stand: Stand) -> None:
    from moto.backends import get_backend

    for backend in get_backend("cloudwatch").values():  # the scanner never ran this image: no metric
        for region in backend.values():
            region.metric_data.clear()


def _not_copied(stand: Stand) -> None:
    stand.copy_on_scan = False


def _lock_changed(stand: Stand) -> None:
    stand.account.client("s3").put_object_lock_configuration(
        Bucket=stand.config.names.bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )


@pytest.mark.parametrize(
    ("broken", "inject"),
    [
        ("bucket public access", _public_access_off),
        ("bucket encryption", _no_encryption),
        ("bucket TLS only", _no_tls_policy),
        ("event subscription", _subscription_disabled),
        ("alarm notification", _alarm_actions_disabled),
        ("athena query", _query_fails),
        ("heartbeat metric", _no_heartbeat),
        ("backup copy", _not_copied),
        ("bucket object lock", _lock_changed),
    ],
)
def test_each_broken_promise_fails_its_own_check(
    stand: Stand, scanner_runs: FakeClock, broken: str, inject: Callable[[Stand], None]
) -> None:
    # GIVEN a deployed lab with one promise broken
    inject(stand)
    # WHEN the check runs on aws
    result = labkit("check", "--target", "aws", "--json")
    # THEN exactly that check FAILs, with what to do, and the exit code is non-zero
    assert result.exit_code == 1, result.output
    assert checks(result) == {name: "FAIL" if name == broken else "PASS" for name in CHECKS}
    [failed] = [c for c in json.loads(result.stdout)["checks"] if c["status"] == "FAIL"]
    assert failed["fix"]


def test_the_table_names_the_failure(stand: Stand, scanner_runs: FakeClock) -> None:
    # GIVEN the public-access block off  WHEN the check prints its table
    _public_access_off(stand)
    result = labkit("check", "--target", "aws", env={"COLUMNS": "400"})
    # THEN the row says what is off, and the summary how many checks failed
    assert result.exit_code == 1, result.output
    assert "public-access block off: BlockPublicPolicy" in result.output
    assert "1 check(s) failed" in result.output


def test_the_local_target_is_refused_with_what_to_run_there(tmp_path: Path) -> None:
    # GIVEN/WHEN the check on the local target
    result = labkit("check", "--target", "local", env={"LABKIT_STATE_DIR": str(tmp_path)})
    # THEN it refuses, naming the commands that prove the local pipeline
    assert isinstance(result.exception, CheckTargetError)
    assert "`labkit scan --wait`, `labkit verify` and `labkit alarms`" in str(result.exception)
