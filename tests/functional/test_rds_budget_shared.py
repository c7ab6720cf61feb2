"""The pipeline's RDS budget holds across every taker that shares its table, not only within one client.

Real parts: the emulator's DynamoDB over HTTP (which serves each request alone, as DynamoDB's item-level
atomicity promises), botocore's RDS client and its event hooks, the SDK-less complete download. Time is a
shared fake clock that a sleeping taker moves forward, so the test never waits on the machine's speed."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from botocore.config import Config

from labkit.backup import rdsbudget
from labkit.backup.rdsbudget import BudgetWaitExceeded, RdsBudget, is_throttled
from labkit.backup.rdslogs import download_complete_log_file
from tests.support.emulated import EmulatedAccount, audit_line

TABLE = "lab-rds-budget"


class SharedClock:
    """One fake time for every taker: a sleeper moves it forward (never back), as real time would."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _budget_table(account: EmulatedAccount) -> Any:
    dynamodb = account.client("dynamodb")
    dynamodb.create_table(**rdsbudget.table_definition(TABLE))
    return dynamodb


def _windows(dynamodb: Any) -> dict[str, int]:
    items = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: int(i["n"]["N"]) for i in items}


def _budget(account: EmulatedAccount, per_s: float, clock: SharedClock, **kwargs: Any) -> RdsBudget:
    return RdsBudget(
        account.client("dynamodb"),  # each taker its own client, as concurrent invocations have
        TABLE,
        per_s,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 0.5,
        **kwargs,
    )


def test_concurrent_takers_never_put_more_than_the_budget_in_a_window_and_lose_no_token(
    account: EmulatedAccount,
) -> None:
    dynamodb = _budget_table(account)
    clock = SharedClock()
    takers, takes, per_s = 6, 15, 4
    budgets = [_budget(account, per_s, clock, max_wait_s=1e9) for _ in range(takers)]
    start = threading.Barrier(takers)
    errors: list[BaseException] = []

    def run(budget: RdsBudget) -> None:
        start.wait()
        try:
            for _ in range(takes):
                budget.take()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # change threads often inside requests, so a race shows on any machine
    try:
        threads = [threading.Thread(target=run, args=(b,)) for b in budgets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    windows = _windows(dynamodb)
    assert sum(b.taken for b in budgets) == takers * takes
    assert sum(windows.values()) == takers * takes  # every admitted request was counted once
    assert max(windows.values()) <= per_s  # and no window took more than the budget's share
    assert len(windows) >= takers * takes / per_s


def test_a_spent_budget_waits_for_the_next_window_then_gives_up_with_what_to_do(
    account: EmulatedAccount,
) -> None:
    _budget_table(account)
    clock = SharedClock(2_000_000.0)
    patient = _budget(account, 2, clock, max_wait_s=5)
    for _ in range(2):
        patient.take()
    before = clock()
    patient.take()  # the window is full: it waits for the next one
    assert clock() > before and int(clock()) == int(before) + 1
    impatient = _budget(account, 2, clock, max_wait_s=0.1)
    impatient.take()  # the new window has one token left
    with pytest.raises(BudgetWaitExceeded, match="LABKIT_RDS_BUDGET_RPS") as caught:
        impatient.take()
    assert is_throttled(caught.value)


def test_a_rate_below_one_a_second_uses_longer_windows(account: EmulatedAccount) -> None:
    dynamodb = _budget_table(account)
    clock = SharedClock(3_000_000.0)
    slow = _budget(account, 0.5, clock, max_wait_s=1e9)
    assert (slow.window_s, slow.limit) == (2.0, 1)
    for _ in range(3):
        slow.take()
    assert sorted(_windows(dynamodb).values()) == [1, 1, 1]
    assert clock() - 3_000_000.0 >= 4  # three requests at 0.5/s span at least two windows more


def test_every_request_of_an_attached_client_and_the_complete_download_take_a_token(
    account: EmulatedAccount,
) -> None:
    dynamodb = _budget_table(account)
    directory = account.add_instance("budgeted-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(50)))
    clock = SharedClock(4_000_000.0)
    budget = _budget(account, 1000, clock)
    rds = budget.attach(account.client("rds"))
    rds.describe_db_instances(DBInstanceIdentifier="budgeted-1")
    [listed] = rds.describe_db_log_files(DBInstanceIdentifier="budgeted-1")["DescribeDBLogFiles"]
    rds.download_db_log_file_portion(
        DBInstanceIdentifier="budgeted-1", LogFileName=listed["LogFileName"], Marker="0"
    )
    credentials = account.session.get_credentials()
    body = b"".join(download_complete_log_file(rds, credentials, "budgeted-1", listed["LogFileName"]))
    assert body == (directory / "server_audit.log").read_bytes()
    assert budget.taken == 4 and sum(_windows(dynamodb).values()) == 4
    account.client("rds").describe_db_instances()  # a client without the budget spends none of it
    assert sum(_windows(dynamodb).values()) == 4


def test_each_retried_attempt_takes_its_own_token(account: EmulatedAccount) -> None:
    """RDS counts every request it receives, retries too: botocore's retries go through before-send."""
    _budget_table(account)
    clock = SharedClock(5_000_000.0)
    budget = _budget(account, 1000, clock)
    retries = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=1)
    # a loopback port with nothing behind it (9, discard): every attempt is refused at once
    closed = account.session.client("rds", endpoint_url="http://127.0.0.1:9", config=retries)
    budget.attach(closed)
    with pytest.raises(Exception, match="Could not connect"):
        closed.describe_db_instances()
    # botocore reads retries' max_attempts as retries after the first attempt (total_max_attempts = 3 + 1)
    assert budget.taken == 4


def test_a_missing_budget_table_says_how_to_make_it(account: EmulatedAccount) -> None:
    budget = _budget(account, 5, SharedClock())  # no table made
    with pytest.raises(rdsbudget.BudgetTableMissing, match="deploy the stack again"):
        budget.take()
