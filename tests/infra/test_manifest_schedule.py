"""The lab stack's daily manifest schedule under Pulumi mocks: one EventBridge rule a day invoking the scanner's
``live`` alias with the constant input the scanner handler reads as "write the manifests", allowed to invoke
that alias only from this rule; and the scanner's grants for it (read backups, write manifests only)."""

from __future__ import annotations

import json
import re

from pulumi_harness import ProgramRun, alias_arns, stack_config

from labkit.backup.daily_manifests import is_manifest_event

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PERMISSION = "aws:lambda/permission:Permission"


def test_a_daily_rule_invokes_the_scanners_live_alias_with_the_manifest_input(lab_run: ProgramRun) -> None:
    rule = lab_run.one(RULE, "manifest-schedule")
    # once a day, at a fixed UTC minute (cron fields: minute hour day-of-month month day-of-week year)
    assert re.fullmatch(r"cron\(\d{1,2} \d{1,2} \* \* \? \*\)", rule["scheduleExpression"])
    assert rule["name"] == f"{stack_config().project}-manifest-schedule"
    target = lab_run.one(TARGET, "manifest-schedule-target")
    assert target["rule"] == rule["name"]
    assert target["arn"] == alias_arns(lab_run)["scanner"]
    # EventBridge passes a constant input as the whole event: the scanner must read it as a manifest run,
    # and the scan schedule's event (no input: a Scheduled Event) must not be one
    assert is_manifest_event(json.loads(target["input"]))
    assert "input" not in lab_run.one(TARGET, "scan-schedule-target")
    assert not is_manifest_event({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})


def test_only_the_manifest_rule_may_invoke_the_alias_for_it(lab_run: ProgramRun) -> None:
    permission = lab_run.one(PERMISSION, "scanner-from-manifest-schedule")
    rule_arn = lab_run.state[(RULE, "manifest-schedule")]["arn"]
    assert (permission["qualifier"], permission["principal"], permission["sourceArn"]) == (
        "live",
        "events.amazonaws.com",
        rule_arn,
    )
    assert permission["function"] == stack_config().names.scanner
    # one permission per rule: the scan schedule's does not name this rule
    others = [p for n, p in lab_run.of_type(PERMISSION).items() if n != "scanner-from-manifest-schedule"]
    assert rule_arn not in {p["sourceArn"] for p in others}


def test_the_scanner_writes_manifests_but_can_never_overwrite_a_part(lab_run: ProgramRun) -> None:
    config = stack_config()
    bucket = lab_run.state[("aws:s3/bucket:Bucket", "backups")]["arn"]
    document = json.loads(lab_run.one("aws:iam/rolePolicy:RolePolicy", "scanner-policy")["policy"])
    puts = [s for s in document["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in puts] == [f"{bucket}/{config.log_prefix}/manifests/*"]
    # a part key (labkit.backup.layout) is outside that pattern
    part = f"{bucket}/{config.log_prefix}/cluster=c/instance=i/date=2026-12-01/f.part-00001.gz"
    assert not part.startswith(puts[0]["Resource"].rstrip("*"))
    deletes = [a for s in document["Statement"] for a in s["Action"] if a.startswith("s3:Delete")]
    assert deletes == []
