"""The workbook's ``target="aws"`` branches, without an AWS account.

Real parts: every AWS API call goes to moto's server over HTTP (the ``account`` emulator), with boto3's
default credential chain reading AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY=testing, exactly as on AWS;
``make -f infrastructure/images.mk`` runs for real. Faked, because it cannot run here:

- ``pulumi.automation``: it only drives the Pulumi CLI, which cannot be installed on this machine (no
  binary, no provider plugins, no AWS). ``labkit.ops.stacks.load_automation`` returns a recording stand-in with
  the same surface as in tests/support/fake_automation.py.
- ``docker``, ``pulumi`` and ``aws`` as make calls them: shell stubs on PATH that log their arguments
  (no Docker daemon, no Pulumi CLI, no registry to push to).
- the EC2 test host running the script: moto records the SSM command but runs nothing, so the test plays
  the host by setting the invocation's outcome in moto's in-process backend.
- the clock of the workbook's polling loops (``labkit.workbook.pipeline.time``), so waits take no time.

The fakes live in tests/functional/aws_doubles.py, their fixtures in aws_fixtures.py (shared with
tests/functional/test_cli_targets.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig
from labkit.errors import StackError
from labkit.ops.lab import PipelineNotCaughtUpError
from labkit.workbook import (
    backup_parts,
    build_and_push_images,
    check_prerequisites,
    cleanup,
    deploy_ecr_stack,
    deploy_lab_stack,
    generate_traffic,
    inspect_backup_state,
    lambda_versions,
    point_alias,
    publish_new_version,
    rollback_alias,
    summarize_backup_state,
    verify_backups,
    wait_for_backups,
)
from labkit.workbook.pipeline import ScannerInvokeError, TrafficCommandError
from labkit.workbook.setup import ImageBuildError
from tests.functional.aws_doubles import (
    ECR_PROJECT,
    LAB_PROJECT,
    MOTO_ACCOUNT,
    REGION,
    FakeAutomation,
    FakeClock,
    backed_up,
)
from tests.support.emulated import EmulatedAccount, audit_line

pytest_plugins = ["tests.functional.aws_fixtures"]  # its fixtures: config, pulumi, tools, clock, deployed ...


# --- 00 prerequisites ----------------------------------------------------------------------------------
def test_prerequisites_on_aws_need_the_deploy_tools_and_find_credentials(
    config: LabConfig, tools: Path
) -> None:
    # GIVEN docker, pulumi and aws on PATH and credentials in the environment
    # WHEN the aws prerequisites are checked
    frame = check_prerequisites("aws").set_index("tool")
    # THEN the deploy tools are needed and found, the local-only tools are not needed
    for tool in ("docker", "pulumi", "aws"):
        assert frame.loc[tool, "ready"] and frame.loc[tool, "found"] == str(tools.parent / "bin" / tool)
    assert not frame.loc["sysbench", "aws needs it"] and frame.loc["sysbench", "ready"]
    assert frame.loc["AWS credentials", "found"] == "yes" and frame.loc["AWS credentials", "ready"]
    assert frame["ready"].all()


def test_prerequisites_on_aws_name_the_install_step_for_each_gap(
    config: LabConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a PATH without the deploy tools and no credentials anywhere in boto3's chain
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # WHEN the aws prerequisites are checked
    frame = check_prerequisites("aws").set_index("tool")
    # THEN each gap is not ready and says how to close it
    assert frame.loc["pulumi", "install"] == "curl -fsSL https://get.pulumi.com | sh"
    assert frame.loc["aws", "install"] == "pip install awscli"
    assert not frame.loc[["docker", "pulumi", "aws"], "ready"].any()
    assert frame.loc["AWS credentials", "found"] == "-" and not frame.loc["AWS credentials", "ready"]
    assert "aws sso login" in frame.loc["AWS credentials", "install"]


# --- 10 ECR stack --------------------------------------------------------------------------------------
def test_ecr_stack_is_configured_from_labkit_then_deployed_alone(
    config: LabConfig, pulumi: FakeAutomation
) -> None:
    # GIVEN an ECR stack whose `up` exports one repository URL per function
    urls = {
        key: f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{config.project}-{key}"
        for key in ("scanner", "detector", "downloader")
    }
    pulumi.outputs[ECR_PROJECT] = {"repositoryUrls": urls, "labProject": config.project}
    # WHEN the ECR step runs on aws
    frame = deploy_ecr_stack("aws", stack_name="dev")
    # THEN only the ECR stack was selected, configured and deployed, and the URLs are shown sorted by function
    assert pulumi.calls == [("select", ECR_PROJECT), ("set_all_config", ECR_PROJECT), ("up", ECR_PROJECT)]
    assert pulumi.details == [
        ("set_all_config", ECR_PROJECT, {"aws:region": REGION, f"{ECR_PROJECT}:labProject": config.project})
    ]
    assert frame.to_dict(orient="records") == [
        {"function": key, "repository": urls[key]} for key in ("detector", "downloader", "scanner")
    ]


# --- 20 images -----------------------------------------------------------------------------------------
def test_images_are_built_pushed_and_pinned_by_images_mk(config: LabConfig, tools: Path) -> None:
    # GIVEN docker, pulumi and aws stubs (the ECR stack answers with each function's repository URL)
    # WHEN v1.2.0 is built and pushed for the stack "staging"
    frame = build_and_push_images("aws", version="v1.2.0", stack_name="staging")
    # THEN make built all three images, logged in to the registry, pushed each tag, then pinned the stack
    calls = tools.read_text().splitlines()
    builds = [c for c in calls if c.startswith("docker build")]
    pushes = [c for c in calls if c.startswith("docker push")]
    pins = [c for c in calls if c.startswith("pulumi config set")]
    registry = f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert [c.split(" -t ")[1].split()[0] for c in builds] == [
        f"labkit/{fn}:v1.2.0" for fn in ("scanner", "detector", "downloader")
    ]
    assert pushes == [
        f"docker push {registry}/lab-{fn}:v1.2.0" for fn in ("scanner", "detector", "downloader")
    ]
    assert f"docker login --username AWS --password-stdin {registry}" in calls
    assert pins == [
        f"pulumi config set --cwd infrastructure/aurora-log-backup-lab-stack --stack staging {fn}ImageTag v1.2.0"
        for fn in ("scanner", "detector", "downloader")
    ]
    assert calls.index(builds[-1]) < calls.index(pushes[0]) and calls.index(pushes[-1]) < calls.index(pins[0])
    # ... and the cell shows make's last lines, ending with the next step
    assert frame["output"].iloc[-1].startswith("images.mk: v1.2.0 pushed and set in stack staging")


def test_a_failed_push_stops_make_and_shows_its_output(
    config: LabConfig, tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a registry that refuses the push
    monkeypatch.setenv("STUB_FAIL", "docker push")
    # WHEN the images are built and pushed
    with pytest.raises(ImageBuildError) as caught:
        build_and_push_images("aws", version="v1.2.0")
    # THEN the error names the make command and shows the refusal; nothing was pinned in the stack
    assert "build-and-push-versioned VERSION=v1.2.0" in str(caught.value)
    assert "docker: docker push refused" in str(caught.value)
    assert not [c for c in tools.read_text().splitlines() if c.startswith("pulumi config set")]


def test_a_version_that_is_not_semver_is_refused_before_any_build(config: LabConfig, tools: Path) -> None:
    # GIVEN/WHEN a version without the v-major.minor.patch form
    with pytest.raises(ImageBuildError, match="is not a semantic version"):
        build_and_push_images("aws", version="1.2")
    # THEN no docker command ran
    assert not [c for c in tools.read_text().splitlines() if c.startswith("docker build")]


# --- 30 lab stack --------------------------------------------------------------------------------------
def test_lab_stack_pins_the_image_version_then_deploys_the_lab_alone(
    config: LabConfig, pulumi: FakeAutomation
) -> None:
    # GIVEN a lab stack that exports its bucket and the test host
    pulumi.outputs[LAB_PROJECT] = {"bucketName": config.names.bucket, "testHostId": "i-0abc"}
    # WHEN the lab step runs with an image version
    frame = deploy_lab_stack("aws", image_version="v1.2.0")
    # THEN the tags were set before `up`, only the lab stack was deployed, and its outputs are shown
    ops = [op for op, project in pulumi.calls if project == LAB_PROJECT]
    assert ops.index("set_all_config") < ops.index("up")
    assert [p for op, p in pulumi.calls if op == "up"] == [LAB_PROJECT]
    tags = {k: v.value for k, v in pulumi.stacks[LAB_PROJECT].config.items() if k.endswith("ImageTag")}
    assert tags == {f"{LAB_PROJECT}:{fn}ImageTag": "v1.2.0" for fn in ("scanner", "detector", "downloader")}
    assert frame.to_dict(orient="records") == [
        {"output": "bucketName", "value": config.names.bucket},
        {"output": "testHostId", "value": "i-0abc"},
    ]


def test_lab_stack_without_pushed_images_says_which_make_target_to_run(
    config: LabConfig, pulumi: FakeAutomation
) -> None:
    # GIVEN a lab stack with no image tags configured
    # WHEN the lab step runs without an image version
    with pytest.raises(StackError, match=r"make build-and-push-versioned VERSION=v1\.0\.0"):
        deploy_lab_stack("aws")
    # THEN nothing was deployed
    assert not [c for c in pulumi.calls if c[0] == "up"]


# --- 40 traffic ----------------------------------------------------------------------------------------
def _test_host(account: EmulatedAccount, pulumi: FakeAutomation) -> str:
    ec2 = account.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    host = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.small")["Instances"][0]
    pulumi.outputs[LAB_PROJECT] = {"testHostId": host["InstanceId"]}
    return str(host["InstanceId"])


def _host_finishes(status: str, stdout: str = "", stderr: str = "") -> Callable[[], None]:
    """Play the test host: the SSM command's invocation ends with ``status`` (moto never runs it)."""
    from moto.backends import get_backend

    def finish() -> None:
        for command in get_backend("ssm")[MOTO_ACCOUNT][REGION]._commands:
            for invocation in command.invocations:
                invocation.update(Status=status, StandardOutputContent=stdout, StandardErrorContent=stderr)

    return finish


def test_traffic_runs_the_lab_scripts_on_the_test_host_over_ssm(
    config: LabConfig, account: EmulatedAccount, pulumi: FakeAutomation, clock: FakeClock
) -> None:
    # GIVEN the lab stack's test host, which finishes the script with sysbench's report
    host = _test_host(account, pulumi)
    report = "\n".join(f"line {n}" for n in range(30))
    clock.on_sleep = _host_finishes("Success", stdout=report)
    # WHEN traffic with the ddl scenario is generated on aws
    frame = generate_traffic("aws", "oltp_read_only", "medium", 45, "ddl", 50)
    # THEN one Run Command went to the host: the lab's profile, table setup, then the workload and ddl
    [command] = account.client("ssm", region_name=REGION).list_commands(InstanceId=host)["Commands"]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"] == {
        "commands": [
            "set -e; . /etc/profile.d/auditlab.sh; /opt/auditlab/setup_sysbench.sh; "
            "/opt/auditlab/test_audit_logs.sh --workload oltp_read_only --intensity medium --time 45 "
            "--rate 50 workload ddl"
        ],
        "executionTimeout": ["345"],  # the run time plus set-up, not SSM's default hour
    }
    assert pulumi.calls == [("select", LAB_PROJECT), ("outputs", LAB_PROJECT)]  # read, never deployed
    # ... and the cell shows the last 20 lines of the host's output
    assert frame["output"].tolist() == [f"line {n}" for n in range(10, 30)]


@pytest.mark.parametrize(
    ("scenarios", "arguments"), [("all", "all"), ("", "workload"), ("failed-logins", "workload failed-login")]
)
def test_traffic_scenarios_are_named_as_the_host_script_knows_them(
    config: LabConfig,
    account: EmulatedAccount,
    pulumi: FakeAutomation,
    clock: FakeClock,
    scenarios: str,
    arguments: str,
) -> None:
    # GIVEN the test host
    host = _test_host(account, pulumi)
    clock.on_sleep = _host_finishes("Success")
    # WHEN traffic runs with the workbook's scenario name
    generate_traffic("aws", scenarios=scenarios)
    # THEN the host script gets its own name for it ("" = the workload alone, as on local)
    [command] = account.client("ssm", region_name=REGION).list_commands(InstanceId=host)["Commands"]
    assert command["Parameters"]["commands"][0].endswith(f"--rate 200 {arguments}")


def test_a_scenario_the_host_cannot_run_is_refused_before_anything_is_sent(
    config: LabConfig, account: EmulatedAccount, pulumi: FakeAutomation, api_calls: list[Any]
) -> None:
    # GIVEN/WHEN the local-only adhoc scenario on aws
    with pytest.raises(TrafficCommandError, match="'adhoc' does not run on the AWS test host"):
        generate_traffic("aws", scenarios="adhoc")
    # THEN neither Pulumi nor SSM was asked anything
    assert pulumi.calls == [] and api_calls == []


def test_a_failing_script_on_the_host_raises_with_its_stderr(
    config: LabConfig, account: EmulatedAccount, pulumi: FakeAutomation, clock: FakeClock
) -> None:
    # GIVEN a host whose script fails
    host = _test_host(account, pulumi)
    clock.on_sleep = _host_finishes("Failed", stderr="test_audit_logs.sh: no sbtest tables in labdb")
    # WHEN traffic is generated
    with pytest.raises(TrafficCommandError) as caught:
        generate_traffic("aws", duration_s=10)
    # THEN the error names the host, the status and the script's complaint
    assert f"traffic on test host {host}: Failed" in str(caught.value)
    assert "no sbtest tables in labdb" in str(caught.value)


def test_a_command_that_never_finishes_is_given_up_after_its_budget(
    config: LabConfig, account: EmulatedAccount, pulumi: FakeAutomation, clock: FakeClock
) -> None:
    # GIVEN a host whose command stays in progress (an agent that never reports back)
    _test_host(account, pulumi)
    clock.on_sleep = _host_finishes("InProgress")
    # WHEN traffic of 10 s is generated
    with pytest.raises(TrafficCommandError, match=r"still InProgress after 310s"):
        generate_traffic("aws", duration_s=10)
    # THEN the wait ended at the budget (run time + 300 s), polling every 5 s
    assert 310 <= sum(clock.slept) <= 315 and set(clock.slept) == {5.0}


# --- 40/50 waiting for the pipeline --------------------------------------------------------------------
def test_waiting_invokes_the_live_scanner_and_reports_the_table(
    deployed: LabConfig,
    account: EmulatedAccount,
    lambda_echoes: None,
    api_calls: list[Any],
    clock: FakeClock,
) -> None:
    # GIVEN an instance whose audit file the pipeline has copied
    data = backed_up(account, deployed, f"{deployed.project}-db")
    # WHEN the workbook waits for the backups on aws
    frame = wait_for_backups("aws", timeout_s=120, settle_s=30)
    # THEN the scanner was started through its live alias, asynchronously as the schedule does
    invokes = [params for service, op, params in api_calls if (service, op) == ("lambda", "Invoke")]
    assert invokes == [
        {"FunctionName": deployed.names.scanner, "Qualifier": "live", "InvocationType": "Event"}
    ]
    # ... the wait lasted at least settle_s (detection needs that long to start), and the summary is the table's
    row = frame.iloc[0].to_dict()
    assert row["scans"] == 3 and clock.slept == [10, 10, 10]
    assert row["files"] == 1 and row["bytes backed up"] == len(data)


def test_waiting_gives_up_with_the_bytes_still_pending(
    deployed: LabConfig, account: EmulatedAccount, lambda_echoes: None, clock: FakeClock
) -> None:
    # GIVEN a file the table knows about but nothing copied
    instance = f"{deployed.project}-db"
    (account.add_instance(instance) / "server_audit.log").write_bytes(audit_line(1) * 100)
    ddb = account.session.resource("dynamodb", endpoint_url=account.url).Table(deployed.names.table)
    detect(
        account.rds,
        ddb,
        InstanceMessage(instance, f"{instance}-cluster", "aurora-mysql", "aurora"),
        seal_after_s=0.0,
        ttl_days=30,
    )
    # WHEN the wait is shorter than the copy
    with pytest.raises(
        PipelineNotCaughtUpError, match=f"{len(audit_line(1)) * 100:,} bytes still to copy after 25s"
    ):
        wait_for_backups("aws", timeout_s=25, settle_s=0)


def test_waiting_without_a_deployed_scanner_says_to_deploy_the_lab_stack(
    config: LabConfig, clock: FakeClock
) -> None:
    # GIVEN an account without the lab's functions
    # WHEN the workbook waits for backups
    with pytest.raises(ScannerInvokeError, match=r"deploy the lab stack first") as caught:
        wait_for_backups("aws")
    # THEN the error names the function and alias it tried
    assert f"{config.names.scanner}:live" in str(caught.value)


# --- 50/60 inspect and verify --------------------------------------------------------------------------
def test_inspect_and_verify_read_the_account_the_config_names(
    deployed: LabConfig, account: EmulatedAccount
) -> None:
    # GIVEN an instance whose audit file the pipeline has copied into the account's bucket
    instance = f"{deployed.project}-db"
    data = backed_up(account, deployed, instance)
    # WHEN the backup state, the parts and the reconciliation are read on aws
    state, parts = inspect_backup_state("aws"), backup_parts("aws")
    verification = verify_backups("aws")
    # THEN all agree: one file, every byte in S3, checked against the source
    summary = summarize_backup_state(state, parts)
    assert summary["files"] == 1 and summary["bytes_backed_up"] == len(data) and summary["bytes_pending"] == 0
    assert summary["parts"] == len(parts) >= 1
    [file_row] = verification.files.to_dict(orient="records")
    assert file_row["instance"] == instance and file_row["in S3"] == len(data) == file_row["source bytes"]
    assert file_row["problems"] == "-" and file_row["source checked"]
    assert verification.values["files"] == 1


# --- versioning ----------------------------------------------------------------------------------------
def test_versions_publish_point_and_roll_back_the_live_alias_on_aws(deployed: LabConfig) -> None:
    # GIVEN the lab's downloader at version 1, live -> 1
    assert lambda_versions("aws")["live"].tolist() == ["<- live"]
    # WHEN a release is published, live pointed at it, then rolled back
    published = publish_new_version("aws", description="v1.2.0 release").iloc[0]
    forward = point_alias("aws").iloc[0]
    back = rollback_alias("aws").iloc[0]
    # THEN each step shows where live was and is
    assert (published["new version"], published["live still at"]) == ("2", "1")
    assert (forward["was"], forward["now"]) == ("1", "2")
    assert (back["was"], back["now"]) == ("2", "1")
    versions = lambda_versions("aws")
    assert versions["description"].tolist()[-1] == "v1.2.0 release"
    assert versions.set_index("version")["live"].to_dict() == {"1": "<- live", "2": ""}


# --- 90 clean-up ---------------------------------------------------------------------------------------
def test_cleanup_destroys_the_lab_before_the_ecr_stack(config: LabConfig, pulumi: FakeAutomation) -> None:
    # GIVEN/WHEN clean-up on aws
    frame = cleanup("aws")
    # THEN the lab (which uses ECR's images) goes first, and both are reported destroyed
    assert [p for op, p in pulumi.calls if op == "destroy"] == [LAB_PROJECT, ECR_PROJECT]
    assert frame.to_dict(orient="records") == [
        {"stack": "lab", "state": "destroyed"},
        {"stack": "ecr", "state": "destroyed"},
    ]
