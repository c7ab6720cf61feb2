"""Quiet Aurora instances are looked at less often, within a bound, and a change wakes them at once
(labkit.backup.looks). Real parts: the emulator's DynamoDB over HTTP (the budget table); the clock is fake
(one scheduled scan a period), so nothing waits on the machine. Hypothesis drives what each look finds."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.backup import rdsbudget, rdsevents
from labkit.backup import table as t
from labkit.backup.looks import QuietBackoff, skipped_looks
from labkit.backup.scanner import InstanceMessage
from labkit.config import LabConfig
from tests.support import lab_service
from tests.support.emulated import EmulatedAccount, audit_line
from tests.support.handler_events import Context, sqs_event

PERIOD = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _backoff(account: EmulatedAccount, max_skip: int) -> tuple[QuietBackoff, Clock]:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    account.client("dynamodb").create_table(**rdsbudget.table_definition(name))
    clock = Clock()
    return QuietBackoff(account.client("dynamodb"), name, PERIOD, max_skip, clock=clock), clock


def test_a_quiet_instance_skips_one_two_then_at_most_max_skip_looks(account: EmulatedAccount) -> None:
    backoff, clock = _backoff(account, max_skip=3)
    pattern = []
    for _ in range(16):  # sixteen scheduled scans of an instance that never writes
        quiet = backoff.due("db-1")
        pattern.append("look" if quiet is not None else "skip")
        if quiet is not None:
            backoff.looked("db-1", quiet, found_something=False)
        clock.now += PERIOD
    assert pattern == (
        ["look", "skip", "look"]
        + ["skip"] * 2
        + ["look"]
        + ["skip"] * 3
        + ["look"]
        + ["skip"] * 3
        + ["look"]
        + ["skip"] * 2
    )


def test_max_skip_zero_looks_every_time_and_the_rule_is_bounded() -> None:
    assert [skipped_looks(q, 0) for q in range(6)] == [0] * 6
    assert [skipped_looks(q, 3) for q in range(7)] == [0, 1, 2, 3, 3, 3, 3]
    assert skipped_looks(10**6, 5) == 5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    max_skip=st.integers(0, 4),
    # per scheduled scan: did a look (if one ran) find something; and did a deletion event arrive before it
    scans=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=24),
)
def test_never_more_skips_in_a_row_than_the_bound_and_a_change_or_event_wakes_the_next_scan(
    account: EmulatedAccount, max_skip: int, scans: list[tuple[bool, bool]]
) -> None:
    backoff, clock = _backoff(account, max_skip)
    in_a_row, woken = 0, True
    for found, event in scans:
        if event:  # a deletion event always looks, and counts as something found
            backoff.looked("db-1", 0, found_something=True)
            woken = True
        quiet = backoff.due("db-1")
        if woken:
            assert quiet is not None  # after a change or an event, the very next scheduled scan looks
        if quiet is None:
            in_a_row += 1
            assert in_a_row <= max_skip
        else:
            in_a_row = 0
            backoff.looked("db-1", quiet, found_something=found)
            woken = found
        clock.now += PERIOD


config = lab_service.config
handler_env = lab_service.handler_env


def test_the_detector_skips_a_quiet_instances_look_and_a_deletion_event_wakes_it(
    account: EmulatedAccount, config: LabConfig, handler_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.handlers import clients
    from labkit.handlers import detector as handler

    monkeypatch.setenv("LABKIT_QUIET_MAX_SKIP", "3")  # a period of 60 s: the calls below come within it
    clients.forget()
    directory = account.add_instance("db-1")
    audit = directory / "server_audit.log"
    audit.write_bytes(b"".join(audit_line(i) for i in range(10)))
    table = account.session.resource("dynamodb", endpoint_url=account.url).Table(config.names.table)
    scheduled = InstanceMessage("db-1", "db-1-cluster", "aurora-mysql", "aurora").body()

    def size() -> int:
        [item] = t.instance_items(table, "db-1")
        return int(item["size"])

    handler.lambda_handler(sqs_event(scheduled), Context())  # a new file: something found
    handler.lambda_handler(sqs_event(scheduled), Context())  # nothing new: quiet once, the next look skipped
    audit.write_bytes(audit.read_bytes() + audit_line(10))
    handler.lambda_handler(sqs_event(scheduled), Context())
    assert size() == 10 * len(audit_line(0))  # skipped: the growth is not seen yet
    event = rdsevents.rds_event(
        "db-1", "RDS-EVENT-0610", "a log file was deleted", "us-east-1", "123456789012"
    )
    handler.lambda_handler(
        sqs_event(rdsevents.sns_envelope(event, "arn:aws:sns:us-east-1:123456789012:a")), Context()
    )
    assert size() == audit.stat().st_size  # the event's own look saw it
    audit.write_bytes(audit.read_bytes() + audit_line(11))
    handler.lambda_handler(sqs_event(scheduled), Context())  # woken: the next scheduled look runs
    assert size() == audit.stat().st_size
