"""images.mk with a self-managed Pulumi backend: make cannot answer the CLI's passphrase prompt.

GIVEN a file:// backend (PULUMI_BACKEND_URL, or the one ``pulumi whoami --verbose`` reports) WHEN a target
that reads or writes a stack runs without PULUMI_CONFIG_PASSPHRASE(_FILE) THEN it stops first with what to
set; with the variable set, pulumi runs and sees it. The stand-in pulumi logs the passphrase it received.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from images_make import fake_tools, make

PASSPHRASE_VARS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


@pytest.fixture(autouse=True)
def no_pulumi_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSPHRASE_VARS:
        monkeypatch.delenv(name, raising=False)


def pulumi_stand_in(tmp_path: Path, whoami_backend: str = "") -> dict[str, str]:
    tools = fake_tools(tmp_path)
    pulumi = Path(tools["IMG_PULUMI"])
    log = tmp_path / "calls.log"
    pulumi.write_text(
        pulumi.read_text().replace(
            "exit 0\n",
            f'echo "passphrase=$PULUMI_CONFIG_PASSPHRASE" >> "{log}"\n'
            f'[ "$1" = whoami ] && echo "Backend URL: {whoami_backend}"\nexit 0\n',
        )
    )
    return tools


def config_sets(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith("pulumi config set")]


@pytest.mark.parametrize("target", ["update-pulumi-config", "get-ecr-urls", "version-info"])
def test_a_local_backend_without_passphrase_stops_before_pulumi_touches_a_stack(
    tmp_path: Path, target: str
) -> None:
    tools = pulumi_stand_in(tmp_path)
    result = make(target, *(f"{k}={v}" for k, v in tools.items()), env={"PULUMI_BACKEND_URL": "file://~"})
    assert result.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE" in result.stderr and "PULUMI_CONFIG_PASSPHRASE_FILE" in result.stderr
    assert config_sets(tmp_path) == []


def test_the_backend_pulumi_is_logged_in_to_is_found_without_the_variable(tmp_path: Path) -> None:
    tools = pulumi_stand_in(tmp_path, whoami_backend="file:///srv/pulumi-state")
    result = make("update-pulumi-config", *(f"{k}={v}" for k, v in tools.items()))
    assert result.returncode != 0
    assert "file:///srv/pulumi-state" in result.stderr


def test_with_the_passphrase_exported_pulumi_runs_and_receives_it(tmp_path: Path) -> None:
    tools = pulumi_stand_in(tmp_path)
    env = {"PULUMI_BACKEND_URL": "file://~", "PULUMI_CONFIG_PASSPHRASE": "s3cret"}
    result = make("update-pulumi-config", "IMG_TAG=v1.0.0", *(f"{k}={v}" for k, v in tools.items()), env=env)
    assert result.returncode == 0, result.stderr
    assert len(config_sets(tmp_path)) == 3
    received = [
        line for line in (tmp_path / "calls.log").read_text().splitlines() if line.startswith("passphrase=")
    ]
    assert received and set(received) == {"passphrase=s3cret"}


def test_a_cloud_backend_needs_no_passphrase(tmp_path: Path) -> None:
    tools = pulumi_stand_in(tmp_path, whoami_backend="https://api.pulumi.com")
    result = make("update-pulumi-config", "IMG_TAG=v1.0.0", *(f"{k}={v}" for k, v in tools.items()))
    assert result.returncode == 0, result.stderr
    assert len(config_sets(tmp_path)) == 3
    assert "PULUMI_CONFIG_PASSPHRASE" not in os.environ
