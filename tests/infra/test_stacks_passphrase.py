"""A self-managed Pulumi backend (``pulumi login --local`` = file://) encrypts stack secrets with a passphrase.

The Automation API runs the CLI without a terminal, so it cannot prompt: labkit must stop before the first
Pulumi command and say which variable to set, and leave alone every setup that needs no passphrase.
pulumi.automation is the recording stand-in of tests/support/fake_automation.py; the backend is chosen through
PULUMI_BACKEND_URL or the CLI's own credentials.json under PULUMI_HOME, as the CLI does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labkit.config import LabConfig
from labkit.errors import LabkitError, StackError
from labkit.ops.stacks import PASSPHRASE_VARIABLES, LabStacks, PassphraseRequiredError, backend_url
from tests.support.fake_automation import FakeAutomation

PULUMI_VARS = ("PULUMI_BACKEND_URL", "PULUMI_HOME", *PASSPHRASE_VARIABLES)


@pytest.fixture(autouse=True)
def clean_pulumi_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PULUMI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))  # no credentials.json: not logged in


def lab(fake: FakeAutomation) -> LabStacks:
    lines: list[str] = []
    return LabStacks("dev", LabConfig(target="aws"), on_output=lines.append, automation=fake)


def test_a_local_backend_without_a_passphrase_fails_before_any_pulumi_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file://~")
    fake = FakeAutomation()
    with pytest.raises(PassphraseRequiredError) as caught:
        lab(fake).preview()
    message = str(caught.value)
    assert "PULUMI_CONFIG_PASSPHRASE" in message and "PULUMI_CONFIG_PASSPHRASE_FILE" in message
    assert "file://~" in message
    assert isinstance(caught.value, StackError) and isinstance(caught.value, LabkitError)
    assert fake.calls == []  # nothing ran, no stack was created half-way


def test_the_backend_the_cli_is_logged_in_to_counts_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = Path(os.environ["PULUMI_HOME"])
    home.mkdir()
    (home / "credentials.json").write_text(
        json.dumps({"current": "file:///srv/pulumi-state", "accounts": {}})
    )
    assert backend_url(os.environ) == "file:///srv/pulumi-state"
    with pytest.raises(PassphraseRequiredError, match="file:///srv/pulumi-state"):
        lab(FakeAutomation()).destroy()


@pytest.mark.parametrize("variable", PASSPHRASE_VARIABLES)
def test_either_variable_lets_the_operation_run_and_reaches_the_cli_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file://~")
    monkeypatch.setenv(variable, str(tmp_path / "passphrase") if variable.endswith("FILE") else "s3cret")
    fake = FakeAutomation()
    assert lab(fake).preview() == {"ecr": {"create": 3}, "lab": {"create": 3}}


def test_the_automation_api_hands_the_passphrase_to_the_cli_non_interactively(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real pulumi.automation command runner, with a stand-in ``pulumi`` that prints what it got."""
    from pulumi.automation import PulumiCommand

    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text(
        '#!/bin/sh\n[ "$1" = version ] && { echo v3.150.0; exit 0; }\n'
        'echo "args=$* passphrase=$PULUMI_CONFIG_PASSPHRASE"\n'
    )
    cli.chmod(0o755)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "s3cret")
    result = PulumiCommand(root=str(tmp_path), skip_version_check=True).run(
        ["stack", "ls"], str(tmp_path), {}
    )
    assert result.stdout.strip() == "args=--non-interactive stack ls passphrase=s3cret"


@pytest.mark.parametrize("url", [None, "https://api.pulumi.com", "https://pulumi.example.internal"])
def test_the_pulumi_cloud_backend_needs_no_passphrase(
    monkeypatch: pytest.MonkeyPatch, url: str | None
) -> None:
    if url:
        monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    fake = FakeAutomation()
    lab(fake).preview()
    assert ("preview", "aurora-log-backup-lab") in fake.calls


def test_a_stack_with_a_kms_secrets_provider_needs_no_passphrase(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from labkit.ops import stacks

    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://my-state-bucket")
    for spec in (stacks.ECR, stacks.LAB):
        work_dir = tmp_path / spec.key
        work_dir.mkdir()
        (work_dir / "Pulumi.dev.yaml").write_text(
            "secretsprovider: awskms://alias/pulumi\nencryptedkey: abc\n"
        )
        monkeypatch.setattr(stacks, spec.key.upper(), stacks.StackSpec(spec.key, spec.project, work_dir))
    monkeypatch.setattr(stacks, "UP_ORDER", (stacks.ECR, stacks.LAB))
    fake = FakeAutomation()
    lab(fake).preview()
    assert [op for op, _ in fake.calls if op == "preview"] == ["preview", "preview"]


def test_a_credentials_file_that_cannot_be_read_means_no_known_backend(tmp_path: Path) -> None:
    home = tmp_path / "odd-home"
    home.mkdir()
    (home / "credentials.json").write_text("{not json")
    assert backend_url({"PULUMI_HOME": str(home)}) is None
