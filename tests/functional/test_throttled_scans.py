"""The detector handler under a spent RDS budget: a scheduled look is put off (the next scheduled scan looks
again; counted, never a DLQ entry), an RDS deletion event fails so SQS delivers it again, and nothing is
recorded from a look that never happened. The handler's own RDS client carries the budget: the test spends
the budget table's windows the way other invocations would, and the handler's clients find them full.

Real parts: a lab deployed in the emulator (its budget table too), the real detector handler and its clients."""

from __future__ import annotations

import json
import time

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from labkit.backup import metrics as m
from labkit.backup import rdsevents
from labkit.backup import table as t
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig
from tests.support import lab_service
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.handler_events import Context, sqs_event

config = lab_service.config
handler_env = lab_service.handler_env


def _spend_the_budget(account: EmulatedAccount, config: LabConfig, seconds: int = 120) -> None:
    """Other invocations took every token of the windows from a second ago to ``seconds`` from now."""
    dynamodb = account.client("dynamodb")
    now = int(time.time())
    for start in range(now - 1, now + seconds):
        dynamodb.put_item(
            TableName=config.names.budget, Item={"pk": {"S": f"rds#{start}"}, "n": {"N": "1000"}}
        )


@pytest.fixture
def spent(
    account: EmulatedAccount, config: LabConfig, handler_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.handlers import clients

    monkeypatch.setenv("LABKIT_RDS_BUDGET_RPS", "5")
    monkeypatch.setenv("LABKIT_RDS_BUDGET_WAIT_S", "0.3")
    clients.forget()
    _spend_the_budget(account, config)


def test_a_scheduled_look_under_a_spent_budget_is_put_off_counted_and_records_nothing(
    account: EmulatedAccount, config: LabConfig, spent: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.handlers import detector as handler

    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(10)))
    body = InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", "aurora").body()
    capsys.readouterr()
    answer = handler.lambda_handler(sqs_event(body), Context())
    assert answer == {"batchItemFailures": []}  # done with: the next scheduled scan looks again
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    assert t.instance_items(table, "db-1") == []  # no look happened, so nothing was recorded
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    throttled = [b[m.THROTTLED] for b in blobs if m.THROTTLED in b]
    assert throttled in ([1], [[1]], [1.0], [[1.0]])


def test_a_deletion_event_under_a_spent_budget_fails_so_it_is_delivered_again(
    account: EmulatedAccount, config: LabConfig, spent: None
) -> None:
    from labkit.handlers import detector as handler

    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(10)))
    event = rdsevents.rds_event(
        "db-1", "RDS-EVENT-0610", "a log file was deleted", "us-east-1", "123456789012"
    )
    body = rdsevents.sns_envelope(event, "arn:aws:sns:us-east-1:123456789012:lab-alarms")
    # every record of the batch failed: powertools fails the invocation, so SQS delivers it again
    with pytest.raises(BatchProcessingError, match="All records failed"):
        handler.lambda_handler(sqs_event(body), Context())
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    assert t.instance_items(table, "db-1") == []
