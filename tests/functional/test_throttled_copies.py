"""Throttling slows a copy down and never fails it: RDS's own Throttling answer (after botocore's retries)
and the pipeline's RDS budget staying spent both hand the copy on, with what was copied kept, no failure
counted, and a stream record that wakes the next invocation. A scheduled scan that is throttled is put off.

Real parts: the emulator over HTTP (its fault knob answers Throttling as RDS does), botocore's RDS client,
the budget's DynamoDB table in the emulator; the clock of the budget is fake so nothing waits on the machine.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from labkit.backup import rdsbudget
from labkit.backup import table as t
from labkit.backup.rdsbudget import RdsBudget
from labkit.backup.streamfilter import CONTINUE_WRITER
from tests.support.emulated import EmulatedAccount, set_faults
from tests.support.pipeline import Pipeline, append, copy_until_done, only_item, stored

NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


class StoppedClock:
    """Time stands still unless the test moves it: a spent window stays spent."""

    def __init__(self) -> None:
        self.now = 7_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _spent_budget(account: EmulatedAccount, clock: StoppedClock, per_s: float) -> RdsBudget:
    account.client("dynamodb").create_table(**rdsbudget.table_definition("lab-rds-budget"))
    return RdsBudget(
        account.client("dynamodb"),
        "lab-rds-budget",
        per_s,
        max_wait_s=0.5,  # shorter than a window: a full window is given up on, never waited out
        clock=clock,
        sleep=lambda s: None,  # the waits pass no time: the window stays full
        jitter=lambda: 0.0,
    )


def test_rds_throttling_before_any_byte_hands_the_copy_on_and_never_fails_it(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 3_000)
    pipeline.detect("db-1")
    throttled_rds = account.client("rds", config=NO_RETRIES)
    set_faults(account.url, throttle_rate=1.0)
    try:
        for attempt in range(8):  # twice the failures that would make a file FAILED
            outcome = pipeline.downloader(rds=throttled_rds).copy(
                "db-1", only_item(pipeline)["sk"], f"t{attempt}"
            )
            assert outcome.action == "throttled"
            item = only_item(pipeline)
            assert item["state"] == t.DETECTED and item["copied_bytes"] == 0
            assert int(item.get("failures", 0)) == 0 and "lease_owner" not in item
            assert item["writer"] == CONTINUE_WRITER  # this write wakes the next invocation
    finally:
        set_faults(account.url, throttle_rate=0.0)
    copy_until_done(pipeline, "db-1")
    item = only_item(pipeline)
    assert stored(pipeline, item) == (directory / "server_audit.log").read_bytes()[: item["copied_bytes"]]
    assert item["copied_bytes"] == item["size"]


def test_a_spent_budget_mid_copy_commits_what_was_copied_and_hands_the_rest_on(
    pipeline: Pipeline, account: EmulatedAccount
) -> None:
    directory = account.add_instance("db-1")
    append(directory / "server_audit.log", 0, 30_000)  # about 2.8 MB: three 1 MB pages
    source = (directory / "server_audit.log").read_bytes()
    pipeline.detect("db-1")
    clock = StoppedClock()
    budget = _spent_budget(account, clock, per_s=1)  # one request per window: the second page waits
    rds = budget.attach(account.client("rds"))
    outcomes: list[Any] = []
    for window in range(12):
        clock.now += 1  # a new window: one more request
        outcome = pipeline.downloader(rds=rds).copy("db-1", only_item(pipeline)["sk"], f"w{window}")
        outcomes.append(outcome.action)
        item = only_item(pipeline)
        assert item["state"] != t.FAILED and int(item.get("failures", 0)) == 0
        assert stored(pipeline, item) == source[: item["copied_bytes"]]  # S3 holds exactly what is copied
        if item["copied_bytes"] and item["copied_bytes"] < len(source) and outcome.action == "copied":
            assert item["writer"] == CONTINUE_WRITER  # handed on: the stream wakes the next invocation
        if item["copied_bytes"] == len(source):  # every line ends in a newline: all of it
            break
    assert outcomes[:3] == ["copied", "copied", "copied"], outcomes  # a page per window, each committed
    assert only_item(pipeline)["copied_bytes"] == len(source)
    assert budget.taken == 3  # one request per page, each counted in the shared table
