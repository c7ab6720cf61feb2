"""``labkit deploy|scan|verify|alarms|status|destroy --target local`` on the real local lab (the session's one).

Nothing is faked: MariaDB with server_audit writes the audit files, the lab service runs the emulator and the
three handlers, the commands run through typer's CliRunner with the lab's config in the environment. The
environment says LABKIT_TARGET=aws on purpose: ``--target local`` must win (argument > variable), or every
command would stop asking for AWS credentials.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from labkit import aws, traffic
from labkit.alarms import alarm_rules
from labkit.backup import table as t
from labkit.cli import app
from labkit.config import LabConfig
from labkit.local.control import config_env
from labkit.local.state import LabState, pid_alive

pytestmark = pytest.mark.e2e


def labkit(config: LabConfig, *args: str, stdin: str | None = None) -> Result:
    env = {**config_env(config), "LABKIT_TARGET": "aws"}
    return CliRunner().invoke(app, [*args, "--target", "local"], env=env, input=stdin)


def runtime_stats(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/labkit-api/runtime", timeout=10) as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


def test_scan_wait_then_verify_status_and_alarms_on_the_local_lab(
    lab: LabState, lab_config: LabConfig, tmp_path: Any
) -> None:
    # GIVEN fresh audit lines on the writer
    traffic.run_scenarios("adhoc", lab_config)
    scans_before = runtime_stats(lab.endpoint)["scanner"]["invocations"]
    # WHEN the scanner runs now and the command waits for the pipeline
    scanned = labkit(lab_config, "scan", "--wait", "--timeout", "240", "--json")
    # THEN the local runtime's scanner ran, and nothing the table knows of is left to copy
    assert scanned.exit_code == 0, scanned.output
    scan = json.loads(scanned.stdout)
    assert scan["target"] == "local" and scan["waited"] and scan["pending_bytes"] == 0
    assert runtime_stats(lab.endpoint)["scanner"]["invocations"] > scans_before
    assert scan["after"]["files"] >= 2  # the writer's and the reader's audit files at least

    # WHEN the backups are verified: S3 against the files on the databases' disks
    verified = labkit(lab_config, "verify", "--json", "--out", str(tmp_path / "out"))
    # THEN every byte is there once
    assert verified.exit_code == 0, verified.output
    summary = json.loads(verified.stdout)
    assert summary["missing_files"] == summary["duplicated_files"] == 0 and summary["backed_up_bytes"] > 0

    # WHEN the status is asked
    status = labkit(lab_config, "status", "--json")
    # THEN it shows the running lab, its functions and the backup state the table holds
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert info["deployed"] and info["local"]["running"] and info["local"]["endpoint"] == lab.endpoint
    lambdas = {r["resource"] for r in info["resources"] if r["service"] == "Lambda"}
    assert lambdas == set(lab_config.names.functions)
    table = (
        aws.session(lab_config).resource("dynamodb", endpoint_url=lab.endpoint).Table(lab_config.names.table)
    )
    items = t.all_items(table)  # read independently of the command
    assert info["backup"]["files"] == len(items)
    assert info["backup"]["bytes_backed_up"] == sum(int(i["copied_bytes"]) for i in items)

    # WHEN the alarms are evaluated
    alarms = labkit(lab_config, "alarms", "--json")
    # THEN every rule is there, the scanner that just ran keeps the heartbeat OK, and the exit code says
    # whether any fires
    answer = json.loads(alarms.stdout)
    states = {a["alarm"]: a["state"] for a in answer["alarms"]}
    assert states.keys() == {rule.key for rule in alarm_rules(lab_config)}
    assert states["scanner-heartbeat"] == "OK"
    assert alarms.exit_code == (1 if answer["firing"] else 0)


def test_scan_without_wait_runs_the_scanner_once(lab: LabState, lab_config: LabConfig) -> None:
    # GIVEN the scanner's invocation count
    before = runtime_stats(lab.endpoint)["scanner"]
    # WHEN a scan is asked for without waiting
    result = labkit(lab_config, "scan")
    # THEN the runtime's scanner ran once more, without an error
    assert result.exit_code == 0, result.output
    after = runtime_stats(lab.endpoint)["scanner"]
    assert after["invocations"] == before["invocations"] + 1 and after["errors"] == before["errors"]
    assert "the local scanner ran" in result.output


def test_deploy_on_a_running_lab_starts_nothing_and_destroy_asks_first(
    lab: LabState, lab_config: LabConfig
) -> None:
    # WHEN the lab is deployed while it runs
    deployed = labkit(lab_config, "deploy")
    # THEN it is the same lab (same service process), with its resources shown
    assert deployed.exit_code == 0, deployed.output
    assert "already running" in deployed.output and lab.endpoint in deployed.output
    # WHEN destroy is refused at the prompt
    refused = labkit(lab_config, "destroy", stdin="n\n")
    # THEN the lab still runs
    assert refused.exit_code != 0 and pid_alive(lab.pid)
