"""Stand-ins the aws-target tests share (the workbook's aws steps, the ``labkit --target aws`` commands).

Real parts: every AWS API call goes to moto's server over HTTP (the ``account`` emulator), with boto3's
default credential chain reading AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY=testing, exactly as on AWS;
``make -f infrastructure/images.mk`` runs for real. Faked, because it cannot run here:

- ``pulumi.automation``: it only drives the Pulumi CLI, which cannot be installed on this machine (no
  binary, no provider plugins, no AWS). ``FakeAutomation`` records the calls with the same surface as in
  tests/support/fake_automation.py; ``FakeAutomation.on`` lets a test play what a stack operation
  would have created in the account.
- ``docker``, ``pulumi`` and ``aws`` as make calls them: shell stubs on PATH (``STUB``) that log their
  arguments (no Docker daemon, no Pulumi CLI, no registry to push to).
- the clock of polling loops (``FakeClock``), so waits take no time.

The fixtures that install them are in tests/functional/aws_fixtures.py (a module names it in
``pytest_plugins``); this module holds what tests also import by name.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from labkit.backup.detector import detect
from labkit.backup.downloader import Downloader
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig, load_config
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.fake_automation import FakeCommandError, FakeConfigValue

MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_PROJECT, LAB_PROJECT = "aurora-log-backup-lab-ecr", "aurora-log-backup-lab"


def _nothing() -> None:
    pass


# --- the Pulumi Automation API stand-in ----------------------------------------------------------------
class FakeStack:
    def __init__(self, automation: FakeAutomation, project: str) -> None:
        self.automation, self.project = automation, project
        self.config: dict[str, FakeConfigValue] = {}

    def _log(self, operation: str, detail: Any = None) -> None:
        self.automation.calls.append((operation, self.project))
        if detail is not None:
            self.automation.details.append((operation, self.project, detail))

    def set_all_config(self, config: dict[str, FakeConfigValue]) -> None:
        self._log("set_all_config", {key: value.value for key, value in config.items()})
        self.config.update(config)

    def get_all_config(self) -> dict[str, FakeConfigValue]:
        return dict(self.config)

    def _outputs(self) -> dict[str, Any]:
        return {
            key: SimpleNamespace(value=v, secret=False)
            for key, v in self.automation.outputs[self.project].items()
        }

    def up(self, on_output: Callable[[str], None]) -> Any:
        self._log("up")
        on_output(f"updating {self.project}")
        self.automation.on.get(("up", self.project), _nothing)()
        return SimpleNamespace(outputs=self._outputs())

    def outputs(self) -> dict[str, Any]:
        self._log("outputs")
        return self._outputs()

    def destroy(self, on_output: Callable[[str], None]) -> Any:
        self._log("destroy")
        on_output(f"destroying {self.project}")
        self.automation.on.get(("destroy", self.project), _nothing)()
        return SimpleNamespace()


class FakeAutomation:
    CommandError = FakeCommandError
    ConfigValue = FakeConfigValue

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.details: list[tuple[str, str, Any]] = []
        self.stacks: dict[str, FakeStack] = {}
        self.outputs: dict[str, dict[str, Any]] = {ECR_PROJECT: {}, LAB_PROJECT: {}}
        # ("up" | "destroy", project) -> what the real stack operation would have done, played by the test
        self.on: dict[tuple[str, str], Callable[[], None]] = {}

    def create_or_select_stack(self, stack_name: str, work_dir: str) -> FakeStack:
        project = ECR_PROJECT if work_dir.endswith("ecr-stack") else LAB_PROJECT
        self.calls.append(("select", project))
        self.stacks.setdefault(project, FakeStack(self, project))
        return self.stacks[project]


class FakeClock:
    """time for labkit.workbook.pipeline: sleep() moves the clock and lets the world act (``on_sleep``)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep()


STUB = """#!/bin/sh
echo "{tool} $*" >> "$STUB_LOG"
case "$STUB_FAIL" in ?*) case "{tool} $*" in *"$STUB_FAIL"*) echo "{tool}: $STUB_FAIL refused" >&2; exit 1;; esac;; esac
{body}
exit 0
"""
STUB_BODIES = {
    "docker": 'case "$1" in login) cat >/dev/null;; esac',
    "pulumi": (
        'case "$*" in "stack output"*RepositoryUrl) fn=$(echo "$*" | sed "s/.* \\([a-z]*\\)RepositoryUrl$/\\1/"); '
        f'echo "{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/lab-$fn";; esac'
    ),
    "aws": 'case "$*" in "ecr get-login-password"*) echo not-a-real-token;; esac',
}


def local_twin(config: LabConfig) -> LabConfig:
    """The same project on the local target: deploy_local creates what the lab stack would, same names."""
    return load_config(env={}, target="local", endpoint_url=config.endpoint_url, project=config.project)


def backed_up(account: EmulatedAccount, config: LabConfig, instance_id: str) -> bytes:
    """An instance with one audit file, detected and copied by the real pipeline cores; returns its bytes."""
    data = b"".join(audit_line(i) for i in range(200))
    (account.add_instance(instance_id) / "server_audit.log").write_bytes(data)
    ddb = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    message = InstanceMessage(instance_id, f"{instance_id}-cluster", "aurora-mysql", "aurora")
    detect(account.rds, ddb, message, seal_after_s=0.0, ttl_days=30)
    [item] = [i for i in ddb.scan()["Items"] if i["pk"] == instance_id]
    Downloader(
        rds=account.rds,
        s3=account.client("s3"),
        table=ddb,
        credentials=account.session.get_credentials(),
        bucket=config.names.bucket,
        prefix=config.log_prefix,
        lease_ms=60_000,
    ).copy(item["pk"], item["sk"], "worker-1")
    return data


def scanner_answers(account: EmulatedAccount, *answers: dict[str, Any]) -> None:
    """What the scanner's next invocations return (moto's lambda-simple queue: it cannot run the image)."""
    body = json.dumps({"results": [json.dumps(a) for a in answers], "region": REGION}).encode()
    request = urllib.request.Request(
        f"{account.url}/moto-api/static/lambda-simple/response", data=body, method="POST"
    )
    urllib.request.urlopen(request)
