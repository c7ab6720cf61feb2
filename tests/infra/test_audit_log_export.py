"""Publishing the audit log to CloudWatch Logs is a choice (issue 18 item 8).

Security Hub control RDS.34 and the Config rule rds-aurora-mysql-audit-logging-enabled pass only when the
cluster publishes its audit log to CloudWatch Logs. ``auditLogsToCloudWatch`` (off by default) turns that
export on, into a log group the stack owns with the stack's log retention; off, nothing reaches
CloudWatch and the README's justification applies. Asserted on what the lab stack declares under mocks.
"""

from __future__ import annotations

import pytest
from pulumi_harness import (
    LAB_DIR,
    LAB_PROJECT,
    ProgramRun,
    ecr_outputs,
    lab_config,
    run_program,
    stack_config,
)

from labkit.dashboard.cost import LOG_RETENTION_DAYS

CLUSTER = ("aws:rds/cluster:Cluster", "aurora")
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
AUDIT_LOG_GROUP = (LOG_GROUP, "aurora-audit-logs")


def run(**config: str) -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(**config), ecr_outputs())


def audit_group_name() -> str:
    return f"/aws/rds/cluster/{stack_config().cluster_id}/audit"


@pytest.fixture(scope="module")
def exporting() -> ProgramRun:
    return run(auditLogsToCloudWatch="true")


def test_off_by_default_nothing_is_published_to_cloudwatch(lab_run: ProgramRun) -> None:
    # GIVEN the default stack config  THEN the cluster exports no log and no audit log group exists
    assert not lab_run.one(*CLUSTER).get("enabledCloudwatchLogsExports")
    names = [group["name"] for group in lab_run.of_type(LOG_GROUP).values()]
    assert not [name for name in names if name.startswith("/aws/rds/")], names
    assert lab_run.outputs.get("auditLogGroup") is None


def test_on_the_cluster_publishes_its_audit_log(exporting: ProgramRun) -> None:
    # GIVEN auditLogsToCloudWatch true  THEN the cluster exports "audit" (what RDS.34 checks), nothing else
    assert exporting.one(*CLUSTER)["enabledCloudwatchLogsExports"] == ["audit"]


def test_on_the_stack_owns_the_audit_log_group_with_the_stacks_log_retention(exporting: ProgramRun) -> None:
    group = exporting.one(*AUDIT_LOG_GROUP)
    # the name RDS writes to, so RDS does not create its own group that keeps the logs forever
    assert group["name"] == audit_group_name()
    # logRetentionDays' default, as the Lambdas' log groups; notebook 80 prices the export's storage with it
    assert group["retentionInDays"] == LOG_RETENTION_DAYS == 14
    lambda_groups = [exporting.one(LOG_GROUP, f"{key}-logs") for key in ("scanner", "detector", "downloader")]
    assert {g["retentionInDays"] for g in lambda_groups} == {group["retentionInDays"]}
    assert exporting.outputs["auditLogGroup"] == audit_group_name()


def test_the_cluster_waits_for_its_log_group(exporting: ProgramRun) -> None:
    # created first, or RDS's first export creates the group itself (no retention) and ours then collides
    dependencies = exporting.options[CLUSTER]["dependencies"]
    assert any(
        urn.endswith("$aws:cloudwatch/logGroup:LogGroup::aurora-audit-logs") for urn in dependencies
    ), dependencies


def test_the_audit_log_group_follows_log_retention_days() -> None:
    stack = run(auditLogsToCloudWatch="true", logRetentionDays="90")
    assert stack.one(*AUDIT_LOG_GROUP)["retentionInDays"] == 90
    assert stack.one(*CLUSTER)["enabledCloudwatchLogsExports"] == ["audit"]
