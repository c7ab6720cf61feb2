"""`labkit alarms` against the emulator over HTTP: the lab's table, queues and Lambda runtime, read as the
command does, with the stack's alarm rules. A file evicted before it was copied fires FilesLost; a clean
lab fires nothing; a scanner that never ran fires the heartbeat."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from labkit.backup import table as t
from labkit.cli import app
from labkit.config import LabConfig, load_config
from labkit.local.control import config_env
from labkit.local.runtime import LambdaRuntime
from tests.support import alarms_lab, lab_service
from tests.support.emulated import EmulatedAccount, audit_line

config = lab_service.config  # a deployed lab in the emulator, its own project name
runtime = alarms_lab.runtime  # the local Lambda runtime, its counters on /labkit-api/runtime
detected = alarms_lab.detected


def alarms(config: LabConfig) -> tuple[int, dict[str, str]]:
    """Run `labkit alarms --json` with the lab's config in the environment: (exit code, alarm -> state)."""
    result = CliRunner().invoke(app, ["alarms", "--json"], env=config_env(config))
    assert result.exit_code in (0, 1), result.output
    answer = json.loads(result.stdout)
    return result.exit_code, {a["alarm"]: a["state"] for a in answer["alarms"]}


def firing(states: dict[str, str]) -> set[str]:
    return {key for key, state in states.items() if state == "ALARM"}


def test_a_clean_lab_whose_scanner_runs_fires_no_alarm(
    account: EmulatedAccount, config: LabConfig, runtime: LambdaRuntime
) -> None:
    # GIVEN an instance with audit lines, detected, and a scanner that just ran
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(100)))
    detected(account, config, "db-1")
    runtime.tick()
    # WHEN the alarms are evaluated
    code, states = alarms(config)
    # THEN nothing fires and the command says so with exit 0
    assert firing(states) == set() and code == 0
    assert states["files-lost"] == states["scanner-heartbeat"] == "OK"


def test_a_file_evicted_before_it_was_copied_fires_files_lost_within_one_scan(
    account: EmulatedAccount, config: LabConfig, runtime: LambdaRuntime
) -> None:
    # GIVEN a detected file that is never copied
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(100)))
    detected(account, config, "db-1")
    runtime.tick()
    assert firing(alarms(config)[1]) == set()
    # WHEN retention deletes it and the next scan sees it gone
    (directory / "server_audit.log").unlink()
    outcome = detected(account, config, "db-1")
    assert len(outcome.lost) == 1
    # THEN FilesLost fires, and so does the gap alarm (the file was still being written: files after it
    # may have come and gone unseen), and the command exits non-zero
    code, states = alarms(config)
    assert firing(states) == {"files-lost", "gaps"} and code == 1
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    assert [i["state"] for i in t.instance_items(table, "db-1")] == [t.LOST]


def test_a_scanner_that_never_runs_fires_the_heartbeat(
    account: EmulatedAccount, config: LabConfig, runtime: LambdaRuntime
) -> None:
    # GIVEN a runtime whose scanner has not run (and no lab state saying the lab is younger than a window)
    # WHEN the alarms are evaluated
    code, states = alarms(config)
    # THEN the silence is an alarm
    assert firing(states) == {"scanner-heartbeat"} and code == 1


def test_a_message_in_the_dead_letter_queue_fires_its_alarm(
    account: EmulatedAccount, config: LabConfig, runtime: LambdaRuntime
) -> None:
    runtime.tick()
    sqs = account.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=config.names.dlq)["QueueUrl"], MessageBody="{}")
    code, states = alarms(config)
    assert firing(states) == {"dlq-not-empty"} and code == 1


def test_without_a_running_lab_the_command_says_how_to_start_one(tmp_path: Path) -> None:
    from labkit.errors import LabNotRunningError

    env = config_env(
        load_config(env={}, target="local", state_dir=tmp_path)
    )  # no lab state in this directory
    result = CliRunner().invoke(app, ["alarms"], env=env)
    assert isinstance(result.exception, LabNotRunningError)
    assert "labkit local up" in str(result.exception)
