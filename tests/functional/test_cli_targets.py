"""``labkit deploy|scan|verify|alarms|status|destroy --target aws`` against the emulator, as CI would run them.

Real: the commands (typer's CliRunner on labkit.cli.app), every AWS call (moto's server over HTTP, boto3's
default credential chain), ``make -f infrastructure/images.mk``, the pipeline cores that detect and copy,
the reconciliation. Faked, as in test_workbook_aws.py (tests/functional/aws_doubles.py says why): Pulumi
automation (its ``up`` of the lab stack is played by creating what the stack creates: the application
resources with labkit.local.deploy, the CloudWatch alarms named as the stack names them), the docker/pulumi/aws
programs make calls, the scanner Lambda's run (moto cannot run image functions: its answer is queued with
moto's lambda-simple API and the test copies the file as the pipeline would) and the polling clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from labkit.alarms import AlarmsNotDeployedError, alarm_rules
from labkit.cli import app
from labkit.config import LabConfig
from labkit.local.deploy import deploy_local, destroy_local
from labkit.ops import PrerequisitesMissingError
from labkit.workbook.setup import ImageBuildError
from tests.functional.aws_doubles import (
    ECR_PROJECT,
    LAB_PROJECT,
    MOTO_ACCOUNT,
    REGION,
    FakeAutomation,
    FakeClock,
    backed_up,
    local_twin,
    scanner_answers,
)
from tests.support.alarms_lab import put_rule_alarm
from tests.support.emulated import EmulatedAccount

pytest_plugins = ["tests.functional.aws_fixtures"]  # config, pulumi, tools, clock, lambda_echoes

FUNCTIONS = ("scanner", "detector", "downloader")


def labkit(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env=env)


@pytest.fixture
def ops_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The same fake clock for labkit.ops.scans's wait as for the workbook's."""
    monkeypatch.setattr("labkit.ops.scans.time", clock)
    return clock


def _play_lab_stack(
    account: EmulatedAccount, config: LabConfig, pulumi: FakeAutomation, tools: Path
) -> dict[str, Any]:
    """What `pulumi up`/`destroy` of the lab stack would do to the account; records what was pushed by then."""
    seen: dict[str, Any] = {}
    cloudwatch = account.client("cloudwatch", region_name=REGION)
    names = [f"{config.project}-{rule.key}" for rule in alarm_rules(config)]

    def up() -> None:
        seen["pushed before lab up"] = [
            c for c in tools.read_text().splitlines() if c.startswith("docker push")
        ]
        deploy_local(local_twin(config))
        for rule, name in zip(alarm_rules(config), names, strict=True):
            put_rule_alarm(cloudwatch, name, rule)

    def destroy() -> None:
        destroy_local(local_twin(config))
        cloudwatch.delete_alarms(AlarmNames=names)

    pulumi.outputs[ECR_PROJECT] = {
        "repositoryUrls": {fn: f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/lab-{fn}" for fn in FUNCTIONS}
    }
    pulumi.outputs[LAB_PROJECT] = {"bucketName": config.names.bucket}
    pulumi.on[("up", LAB_PROJECT)] = up
    pulumi.on[("destroy", LAB_PROJECT)] = destroy
    return seen


def test_the_whole_aws_path_deploy_scan_verify_alarms_status_destroy(
    config: LabConfig,
    account: EmulatedAccount,
    pulumi: FakeAutomation,
    tools: Path,
    lambda_echoes: None,
    ops_clock: FakeClock,
    tmp_path: Path,
) -> None:
    seen = _play_lab_stack(account, config, pulumi, tools)

    # WHEN the lab is deployed on aws with images v1.2.0
    deployed = labkit("deploy", "--target", "aws", "--version", "v1.2.0")
    # THEN ECR went up first, the three images were pushed before the lab stack went up, and only then the lab
    assert deployed.exit_code == 0, deployed.output
    assert [p for op, p in pulumi.calls if op == "up"] == [ECR_PROJECT, LAB_PROJECT]
    assert [c.rsplit("/", 1)[1] for c in seen["pushed before lab up"]] == [
        f"lab-{fn}:v1.2.0" for fn in FUNCTIONS
    ]
    tags = {k: v.value for k, v in pulumi.stacks[LAB_PROJECT].config.items() if k.endswith("ImageTag")}
    assert tags == {f"{LAB_PROJECT}:{fn}ImageTag": "v1.2.0" for fn in FUNCTIONS}

    # WHEN a scan runs with --wait, the scanner queueing one instance whose file the pipeline copies
    instance = f"{config.project}-db"
    scanner_answers(account, {"sent": [instance], "skipped": ["other-db"]})
    copied: list[bytes] = []
    ops_clock.on_sleep = lambda: copied.append(backed_up(account, config, instance)) if not copied else None
    scanned = labkit("scan", "--target", "aws", "--wait", "--json")
    # THEN it reports what the scanner queued and what was copied meanwhile
    assert scanned.exit_code == 0, scanned.output
    scan = json.loads(scanned.stdout)
    assert (scan["queued"], scan["skipped"]) == ([instance], ["other-db"])
    assert scan["new_files"] == 1 and scan["bytes_copied"] == len(copied[0]) and scan["pending_bytes"] == 0
    assert type(scan["bytes_copied"]) is int  # counted, not a float ("1.0 new files")
    assert scan["rounds"] == 3  # detection is asynchronous: the wait lasted its 30 s settle time

    # WHEN the backups are verified on aws
    verified = labkit("verify", "--target", "aws", "--json", "--out", str(tmp_path / "out"))
    # THEN the source's bytes are all in S3
    assert verified.exit_code == 0, verified.output
    summary = json.loads(verified.stdout)
    assert (
        summary["files"] == 1
        and summary["backed_up_bytes"] == len(copied[0])
        and summary["missing_files"] == 0
    )

    # WHEN CloudWatch has every alarm OK but FilesLost, which saw 2 lost files
    cloudwatch = account.client("cloudwatch", region_name=REGION)
    for rule in alarm_rules(config):
        firing = rule.key == "files-lost"
        cloudwatch.set_alarm_state(
            AlarmName=f"{config.project}-{rule.key}",
            StateValue="ALARM" if firing else "OK",
            StateReason="Threshold Crossed: 1 datapoint [2.0]" if firing else "fine",
            StateReasonData=json.dumps({"recentDatapoints": [2.0] if firing else [0.0]}),
        )
    alarms = labkit("alarms", "--target", "aws", "--json")
    # THEN the alarms command shows CloudWatch's states, in the local table's shape, and exits 1
    assert alarms.exit_code == 1, alarms.output
    states = {a["alarm"]: (a["state"], a["value"]) for a in json.loads(alarms.stdout)["alarms"]}
    assert states.keys() == {rule.key for rule in alarm_rules(config)}
    assert states.pop("files-lost") == ("ALARM", 2.0)
    assert set(states.values()) == {("OK", 0.0)}

    # WHEN the status is asked (LABKIT_TARGET=aws instead of the option: the config decides as everywhere)
    status = labkit("status", "--json", env={"LABKIT_TARGET": "aws"})
    # THEN it shows the stacks' outputs, the resources and the backup state summary
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert info["target"] == "aws" and info["deployed"]
    assert info["stacks"]["lab"] == {"bucketName": config.names.bucket}
    assert {r["resource"] for r in info["resources"] if r["service"] == "Lambda"} == set(
        config.names.functions
    )
    backup = info["backup"]
    assert (backup["files"], backup["bytes_backed_up"], backup["bytes_pending"]) == (1, len(copied[0]), 0)
    assert backup["parts"] >= 1 and backup["files_lost"] == backup["files_failed"] == 0
    # AND the instance's kept history: Aurora on AWS keeps its files by retention, 24 h of 1-minute scans
    history = [(h["instance_id"], h["verdict"], h["covered_scans"]) for h in info["history"]]
    assert history == [(instance, "ok", 1440.0)]

    # WHEN destroy is refused at the prompt, then confirmed
    refused = labkit("destroy", "--target", "aws", stdin="n\n")
    assert refused.exit_code != 0 and not [c for c in pulumi.calls if c[0] == "destroy"]
    destroyed = labkit("destroy", "--target", "aws", stdin="y\n")
    # THEN the lab stack went before the ECR stack, and nothing is deployed any more
    assert destroyed.exit_code == 0, destroyed.output
    assert [p for op, p in pulumi.calls if op == "destroy"] == [LAB_PROJECT, ECR_PROJECT]
    after = labkit("status", "--target", "aws", "--json")
    assert after.exit_code == 1 and not json.loads(after.stdout)["deployed"]


def test_a_scanner_that_fails_is_an_error_naming_its_log(
    config: LabConfig, account: EmulatedAccount, lambda_echoes: None
) -> None:
    # GIVEN the lab's functions, and a scanner whose answer is not the scanner's (an image of another labkit)
    deploy_local(local_twin(config))
    scanner_answers(account, {"unexpected": True})
    # WHEN a scan runs
    result = labkit("scan", "--target", "aws")
    # THEN it fails saying what came back and where to look
    assert result.exit_code != 0
    assert "is the live alias on an image of this labkit?" in str(result.exception)


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (
            "pulumi",
            "pulumi not found (deploys the ECR and lab stacks): install it: curl -fsSL https://get.pulumi.com | sh",
        ),
        (
            "docker",
            "docker not found (builds the Lambda container images): install it: https://docs.docker.com/engine/install/",
        ),
        ("docker-daemon", "docker is installed but its daemon does not answer: start it"),
        ("credentials", "no AWS credentials in boto3's chain: aws configure, aws sso login, or AWS_PROFILE"),
    ],
)
def test_deploy_without_a_prerequisite_stops_before_anything_changed(
    config: LabConfig,
    pulumi: FakeAutomation,
    tools: Path,
    monkeypatch: pytest.MonkeyPatch,
    missing: str,
    expected: str,
) -> None:
    # GIVEN the stubs on a PATH holding only them and make, with one piece missing
    bin_dir = tools.parent / "bin"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin")
    if missing in ("pulumi", "docker"):
        (bin_dir / missing).unlink()
    if missing == "docker-daemon":
        monkeypatch.setenv("STUB_FAIL", "docker info")
    if missing == "credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # WHEN the deploy starts
    result = labkit("deploy", "--target", "aws")
    # THEN it stops with every gap and its fix; no stack was touched and no image built
    assert isinstance(result.exception, PrerequisitesMissingError), result.output
    assert expected in str(result.exception) and len(result.exception.gaps) == 1
    assert pulumi.calls == []
    assert not [c for c in tools.read_text().splitlines() if c.startswith(("docker build", "pulumi config"))]


@pytest.mark.parametrize("command", ["scan", "verify", "alarms", "status", "destroy"])
def test_every_aws_command_checks_the_credentials_first(
    config: LabConfig, pulumi: FakeAutomation, tools: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # GIVEN no credentials anywhere in boto3's chain
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # WHEN the command runs on aws
    result = labkit(command, "--target", "aws", *(["--yes"] if command == "destroy" else []))
    # THEN it says how to get credentials, before any stack operation
    assert isinstance(result.exception, PrerequisitesMissingError), result.output
    assert f"labkit {command} --target aws cannot start" in str(result.exception)
    assert "aws sso login" in str(result.exception)
    assert pulumi.calls == []


def test_the_console_script_exits_2_with_the_missing_tools(tmp_path: Path) -> None:
    # GIVEN an empty PATH and no credentials (the real entry point, in its own process)
    env = {
        "PATH": str(tmp_path),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "LABKIT_ACCOUNT_ID": MOTO_ACCOUNT,
        "COLUMNS": "400",  # rich wraps error lines at the terminal's width
    }
    labkit_script = Path(sys.executable).parent / "labkit"
    done = subprocess.run(
        [str(labkit_script), "deploy", "--target", "aws"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN exit 2 and one line per gap, each with its fix
    assert done.returncode == 2, done.stderr
    for gap in (
        "pulumi not found",
        "docker not found",
        "aws not found",
        "make not found",
        "no AWS credentials",
    ):
        assert gap in done.stderr


def test_status_of_a_local_lab_that_is_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    # GIVEN a state directory no lab runs from
    env = {"LABKIT_STATE_DIR": str(tmp_path / "state"), "LABKIT_TARGET": "aws", "COLUMNS": "400"}
    # WHEN the local status is asked (the option beats LABKIT_TARGET)
    result = labkit("status", "--target", "local", env=env)
    # THEN it is not deployed (exit 1) and says which command starts it
    assert result.exit_code == 1, result.output
    assert "`labkit deploy --target local` starts it" in result.output
    assert "not deployed" in result.output


def test_a_version_images_mk_would_refuse_stops_the_deploy_before_the_ecr_stack(
    config: LabConfig, pulumi: FakeAutomation, tools: Path
) -> None:
    # GIVEN/WHEN a deploy with a version that is not semver (images.mk's guard would stop after ECR's up)
    result = labkit("deploy", "--target", "aws", "--version", "1.2")
    # THEN images.mk's own message, and no stack was touched
    assert isinstance(result.exception, ImageBuildError), result.output
    assert "VERSION=1.2 is not a semantic version such as v1.2.3" in str(result.exception)
    assert pulumi.calls == [] and tools.read_text().splitlines() == ["docker info"]  # the daemon check only


def test_deploy_without_images_pins_the_given_version_and_builds_nothing(
    config: LabConfig, account: EmulatedAccount, pulumi: FakeAutomation, tools: Path
) -> None:
    # GIVEN images of v1.0.3 already in ECR
    _play_lab_stack(account, config, pulumi, tools)
    # WHEN the lab is deployed with --no-images
    result = labkit("deploy", "--target", "aws", "--no-images", "--version", "v1.0.3")
    # THEN both stacks went up, the lab stack pinned to v1.0.3, and no docker command ran
    assert result.exit_code == 0, result.output
    assert [p for op, p in pulumi.calls if op == "up"] == [ECR_PROJECT, LAB_PROJECT]
    tags = {k: v.value for k, v in pulumi.stacks[LAB_PROJECT].config.items() if k.endswith("ImageTag")}
    assert set(tags.values()) == {"v1.0.3"} and len(tags) == 3
    assert not [c for c in tools.read_text().splitlines() if c.startswith("docker")]


def test_alarms_on_aws_name_what_is_missing(config: LabConfig, account: EmulatedAccount) -> None:
    # GIVEN no alarm of the lab in CloudWatch
    # WHEN the alarms are read on aws
    nothing = labkit("alarms", "--target", "aws")
    # THEN it says to deploy the lab stack
    assert isinstance(nothing.exception, AlarmsNotDeployedError)
    assert "deploy the lab stack (`labkit deploy --target aws`)" in str(nothing.exception)
    # GIVEN only the heartbeat alarm, in ALARM (an older stack, and a silent scanner)
    cloudwatch = account.client("cloudwatch", region_name=REGION)
    [heartbeat] = [r for r in alarm_rules(config) if r.key == "scanner-heartbeat"]
    metric = heartbeat.metrics[0]
    cloudwatch.put_metric_alarm(
        AlarmName=f"{config.project}-scanner-heartbeat",
        Namespace=metric.namespace,
        MetricName=metric.name,
        Dimensions=[{"Name": k, "Value": v} for k, v in metric.dimensions],
        Statistic="SampleCount",
        Period=heartbeat.period_s,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    cloudwatch.set_alarm_state(
        AlarmName=f"{config.project}-scanner-heartbeat", StateValue="ALARM", StateReason="no datapoints"
    )
    # WHEN the alarms are read again
    some = labkit("alarms", "--target", "aws", env={"COLUMNS": "400"})
    # THEN the heartbeat fires (exit 1), every other rule is MISSING, and a note says to update the stack
    assert some.exit_code == 1, some.output
    assert "1 alarm(s) firing" in some.output
    assert f"{len(alarm_rules(config)) - 1} alarm(s) missing" in some.output
    assert some.output.count("MISSING") == len(alarm_rules(config)) - 1
