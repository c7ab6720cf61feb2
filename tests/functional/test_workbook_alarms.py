"""The 50 notebook's alarm panel (labkit.workbook.alarm_panel) on both targets, against the emulator over HTTP.

Local: the lab's table, queues and Lambda runtime (the fixtures of tests/support/alarms_lab.py: a runtime with
do-nothing handlers, its counters served as the lab service serves them), read through the workbook's own
config (LABKIT_* variables, as a notebook started by `make` gets them). AWS: moto's CloudWatch holding
alarms named as the stack names them, their state set as CloudWatch would set it (nothing evaluates
alarms in moto). Nothing else is faked."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from labkit.alarms import alarm_rules
from labkit.config import LabConfig, load_config
from labkit.local.control import config_env
from labkit.local.runtime import LambdaRuntime
from labkit.workbook import alarm_panel
from tests.support import alarms_lab, lab_service
from tests.support.alarms_lab import put_rule_alarm
from tests.support.emulated import EmulatedAccount, audit_line

config = lab_service.config  # a deployed lab in the emulator, its own project name
runtime = alarms_lab.runtime  # the local Lambda runtime, its counters on /labkit-api/runtime


@pytest.fixture
def workbook_env(config: LabConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LABKIT_"):
            monkeypatch.delenv(name)
    for name, value in config_env(config).items():
        monkeypatch.setenv(name, value)


def states(panel) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(zip(panel.table["alarm"], panel.table["state"], strict=True))


def test_an_evicted_file_shows_files_lost_firing_in_red(
    account: EmulatedAccount, config: LabConfig, runtime: LambdaRuntime, workbook_env: None
) -> None:
    # GIVEN a detected file, never copied, and a scanner that runs
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(100)))
    alarms_lab.detected(account, config, "db-1")
    runtime.tick()
    before = alarm_panel("local")
    assert before.values["firing"] == 0 and "no alarm firing" in before._repr_html_()
    # WHEN retention deletes it before it was copied and the next scan sees it gone
    (directory / "server_audit.log").unlink()
    assert len(alarms_lab.detected(account, config, "db-1").lost) == 1
    panel = alarm_panel("local")
    # THEN the panel shows FilesLost firing as a red row and a red tile, and the gap the file opened (it
    # was still being written: files after it may have come and gone unseen)
    assert panel.values["firing_alarms"] == ["files-lost", "gaps"]
    assert states(panel)["files-lost"] == "ALARM" and states(panel)["scanner-heartbeat"] == "OK"
    assert len(panel.table) == len(alarm_rules(config))  # every rule of the stack, none left out
    page = panel._repr_html_()
    assert '<tr style="color:#d62728"><td style="text-align:left">files-lost</td>' in page
    assert page.count('<tr style="color:#d62728">') == 2
    assert panel._repr_png_().startswith(b"\x89PNG") and "data:image/png;base64," in page


def test_the_aws_panel_shows_cloudwatchs_states(
    account: EmulatedAccount, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("LABKIT_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("LABKIT_ENDPOINT_URL", account.url)
    project = f"wb-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABKIT_PROJECT", project)
    lab = load_config(env={}, target="aws", endpoint_url=account.url, project=project)
    # GIVEN the stack's alarms in CloudWatch, the FilesLost one in ALARM with the datapoint it saw
    cloudwatch = account.client("cloudwatch")
    for rule in alarm_rules(lab):
        put_rule_alarm(cloudwatch, f"{project}-{rule.key}", rule)
        cloudwatch.set_alarm_state(AlarmName=f"{project}-{rule.key}", StateValue="OK", StateReason="fine")
    cloudwatch.set_alarm_state(
        AlarmName=f"{project}-files-lost",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).",
        StateReasonData=json.dumps({"version": "1.0", "recentDatapoints": [2.0]}),
    )
    # WHEN the panel is shown for the aws target
    panel = alarm_panel("aws")
    # THEN it is CloudWatch's view: FilesLost firing with its datapoint, the rest OK
    assert panel.values["firing_alarms"] == ["files-lost"]
    row = panel.table.set_index("alarm").loc["files-lost"]
    assert (row["state"], row["value"]) == ("ALARM", "2")
    assert set(states(panel).values()) == {"ALARM", "OK"}
