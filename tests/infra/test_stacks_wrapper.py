"""labkit.ops.stacks over a faked pulumi.automation.

Pulumi's CLI cannot run here (no binary, no provider plugins, no AWS), and the Automation API only
drives that CLI, so the automation module is replaced by a recording stand-in with the same surface
(create_or_select_stack, ConfigValue, CommandError, Stack.set_all_config/get_all_config/preview/up/
outputs/refresh/destroy). The missing-CLI error is tested for real against this machine's PATH.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from labkit.config import LabConfig
from labkit.errors import LabkitError, StackError
from labkit.ops.stacks import ECR, LAB, LabStacks, PulumiNotFoundError
from tests.support.fake_automation import FakeAutomation, FakeCommandError


@pytest.fixture
def fake() -> FakeAutomation:
    return FakeAutomation()


def stacks(fake: FakeAutomation, lines: list[str] | None = None, **config: Any) -> LabStacks:
    sink = lines if lines is not None else []
    return LabStacks("dev", LabConfig(target="aws", **config), on_output=sink.append, automation=fake)


def test_missing_cli_names_the_install_step_before_touching_automation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("labkit.ops.stacks.shutil.which", lambda name: None)
    monkeypatch.setitem(sys.modules, "pulumi.automation", None)  # importing it now would raise ImportError
    with pytest.raises(PulumiNotFoundError) as caught:
        LabStacks("dev", LabConfig(target="aws"), on_output=None).up()
    assert "curl -fsSL https://get.pulumi.com | sh" in str(caught.value)
    assert isinstance(caught.value, StackError)
    assert isinstance(caught.value, LabkitError)


def test_this_machine_has_no_pulumi_cli_and_says_so() -> None:
    import shutil

    if shutil.which("pulumi"):
        pytest.skip("a Pulumi CLI is installed here")
    with pytest.raises(PulumiNotFoundError, match="pulumi CLI not found"):
        LabStacks("dev", LabConfig(target="aws"), on_output=None).preview()


def test_up_deploys_ecr_before_lab_and_streams_progress(fake: FakeAutomation) -> None:
    lines: list[str] = []
    lab = stacks(fake, lines)
    lab.set_image_tags("v1.0.0")
    outputs = lab.up()
    ups = [project for op, project in fake.calls if op == "up"]
    assert ups == ["aurora-log-backup-lab-ecr", "aurora-log-backup-lab"]
    assert lines.index("updating aurora-log-backup-lab-ecr") < lines.index("updating aurora-log-backup-lab")
    assert "==> pulumi up aurora-log-backup-lab-ecr/dev" in lines
    assert outputs == {
        "ecr": {"labProject": "aurora-log-backup-lab"},
        "lab": {"labProject": "aurora-log-backup-lab"},
    }


def test_up_configures_region_and_project_from_labkit_before_each_stack(fake: FakeAutomation) -> None:
    lab = stacks(fake, region="eu-central-1", project="team-7")
    lab.set_image_tags({"scanner": "v1.0.0", "detector": "v1.0.1", "downloader": "v1.0.2"})
    lab.up()
    for project in ("aurora-log-backup-lab-ecr", "aurora-log-backup-lab"):
        config = fake.stacks[project].config
        assert config["aws:region"].value == "eu-central-1"
        assert config[f"{project}:labProject"].value == "team-7"
        first_up = fake.calls.index(("up", project))
        assert ("set_all_config", project) in fake.calls[:first_up]
    assert (
        fake.stacks["aurora-log-backup-lab"].config["aurora-log-backup-lab:detectorImageTag"].value
        == "v1.0.1"
    )


def test_lab_up_without_image_tags_stops_after_ecr_with_the_make_target(fake: FakeAutomation) -> None:
    with pytest.raises(StackError, match=r"make build-and-push-versioned VERSION=v1\.0\.0"):
        stacks(fake).up()
    assert [p for op, p in fake.calls if op == "up"] == ["aurora-log-backup-lab-ecr"]


def test_destroy_tears_down_lab_before_ecr(fake: FakeAutomation) -> None:
    lines: list[str] = []
    stacks(fake, lines).destroy()
    assert [p for op, p in fake.calls if op == "destroy"] == [
        "aurora-log-backup-lab",
        "aurora-log-backup-lab-ecr",
    ]
    assert lines[-1] == "destroying aurora-log-backup-lab-ecr"


def test_order_holds_whatever_order_the_caller_names_the_stacks(fake: FakeAutomation) -> None:
    lab = stacks(fake)
    lab.set_image_tags("v1.0.0")
    lab.up(only=["lab", "ecr"])
    lab.destroy(only=["ecr", "lab"])
    assert [(op, p) for op, p in fake.calls if op in ("up", "destroy")] == [
        ("up", "aurora-log-backup-lab-ecr"),
        ("up", "aurora-log-backup-lab"),
        ("destroy", "aurora-log-backup-lab"),
        ("destroy", "aurora-log-backup-lab-ecr"),
    ]


def test_preview_refresh_and_outputs_cover_both_stacks(fake: FakeAutomation) -> None:
    lab = stacks(fake)
    assert lab.preview() == {"ecr": {"create": 3}, "lab": {"create": 3}}
    lab.refresh(only=["lab"])
    assert [p for op, p in fake.calls if op == "refresh"] == ["aurora-log-backup-lab"]
    assert lab.outputs(only=["lab"]) == {"lab": {"bucketName": "aurora-log-backup-lab-backups"}}
    assert [p for op, p in fake.calls if op == "select"] == [
        "aurora-log-backup-lab-ecr",
        "aurora-log-backup-lab",
    ]


def test_a_failing_pulumi_command_becomes_a_stack_error_naming_the_stack(fake: FakeAutomation) -> None:
    fake.failures.add(("up", "aurora-log-backup-lab-ecr"))
    with pytest.raises(StackError) as caught:
        stacks(fake).up()
    message = str(caught.value)
    assert "pulumi up failed on stack aurora-log-backup-lab-ecr/dev" in message
    assert "resource x failed" in message
    assert isinstance(caught.value.__cause__, FakeCommandError)


def test_unknown_stack_names_are_refused(fake: FakeAutomation) -> None:
    with pytest.raises(StackError, match="expected ecr and/or lab"):
        stacks(fake).up(only=["prod"])


def test_stack_specs_point_at_the_stack_directories() -> None:
    assert (ECR.work_dir / "Pulumi.yaml").read_text().startswith(f"name: {ECR.project}\n")
    assert (LAB.work_dir / "Pulumi.yaml").read_text().startswith(f"name: {LAB.project}\n")
