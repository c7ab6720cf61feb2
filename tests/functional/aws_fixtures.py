"""Fixtures for the aws-target tests: the aws target pointed at the emulator, fake Pulumi, tool stubs.

Use with ``pytest_plugins = ["tests.functional.aws_fixtures"]``; what is faked and why is in
tests/functional/aws_doubles.py.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import aws
from labkit.config import LabConfig, load_config
from labkit.local.deploy import deploy_local
from labkit.workbook import workbook_config
from tests.functional.aws_doubles import STUB, STUB_BODIES, FakeAutomation, FakeClock, local_twin
from tests.support.emulated import EmulatedAccount


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture
def config(account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LabConfig:
    """The aws target pointed at the emulator; credentials from boto3's default chain (environment)."""
    for name in list(os.environ):
        if name.startswith(("LABKIT_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    project = f"wb-{uuid.uuid4().hex[:8]}"  # moto's backends live as long as the process: names of our own
    state_dir = tmp_path / "state"
    # the workbook reads its config itself (argument > LABKIT_* > default): the variables say what we'd pass
    monkeypatch.setenv("LABKIT_ENDPOINT_URL", account.url)
    monkeypatch.setenv("LABKIT_PROJECT", project)
    monkeypatch.setenv("LABKIT_STATE_DIR", str(state_dir))
    expected = load_config(
        env={}, target="aws", endpoint_url=account.url, project=project, state_dir=state_dir
    )
    assert workbook_config("aws") == expected  # not paced: the aws target keeps the stack's schedule
    return expected


@pytest.fixture
def pulumi(monkeypatch: pytest.MonkeyPatch) -> FakeAutomation:
    fake = FakeAutomation()
    monkeypatch.setattr("labkit.ops.stacks.load_automation", lambda: fake)
    return fake


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every call made through labkit.aws.client, as botocore sends it (a spy on the real client)."""
    calls: list[tuple[str, str, dict[str, Any]]] = []
    real = aws.client

    def spying(service: str, config: LabConfig, **kwargs: Any) -> Any:
        client = real(service, config, **kwargs)

        def note(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((service, model.name, dict(params)))

        client.meta.events.register("provide-client-params.*.*", note)
        return client

    monkeypatch.setattr(aws, "client", spying)
    return calls


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("labkit.workbook.pipeline.time", fake)
    return fake


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """docker, pulumi and aws stubs first on PATH; returns the log their calls go to."""
    bin_dir, log = tmp_path / "bin", tmp_path / "tools.log"
    bin_dir.mkdir()
    log.touch()
    for tool, body in STUB_BODIES.items():
        path = bin_dir / tool
        path.write_text(STUB.format(tool=tool, body=body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_LOG", str(log))
    monkeypatch.delenv("STUB_FAIL", raising=False)
    return log


@pytest.fixture
def deployed(config: LabConfig) -> LabConfig:
    """The lab stack's application resources in the emulator (bucket, table, queues, functions + live)."""
    deploy_local(local_twin(config))
    return config


@pytest.fixture
def lambda_echoes(account: EmulatedAccount) -> Iterator[None]:
    """moto runs functions in Docker; without it an invoke answers like a function that succeeded."""

    def set_docker(use: bool) -> None:
        body = json.dumps({"lambda": {"use_docker": use}}).encode()
        urllib.request.urlopen(
            urllib.request.Request(f"{account.url}/moto-api/config", data=body, method="POST")
        )

    before = json.load(urllib.request.urlopen(f"{account.url}/moto-api/config"))["lambda"]["use_docker"]
    set_docker(False)
    yield
    set_docker(before)
