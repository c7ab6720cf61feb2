"""One RDS request budget shared by every invocation of the pipeline: a counter per time window in DynamoDB.

RDS throttles all API calls of an account and Region with one token bucket (300 burst, 12 requests/s: see
REFERENCE.md), shared with the console, monitoring and every other tool. botocore's adaptive retry mode limits
one client; our functions run as many concurrent invocations, each with its own clients, so a limit that holds
for the whole pipeline has to live outside them. It lives in a small DynamoDB table (``names.budget``): every
RDS request first adds one to the item of the current window (``rds#<window start>``) with a conditional
``ADD`` that fails once the window holds its share. A request that finds its window full waits for the next
one (with jitter, so waiters do not all retry at its first millisecond) and gives up after ``max_wait_s`` with
``BudgetWaitExceeded``, which the pipeline treats as "slow down and hand on", never as a failed copy.

Why fixed windows and not a token bucket item: a bucket needs a read-modify-write (two requests, or a
conditional write that loses under contention); one conditional ``ADD`` per request is atomic in DynamoDB and
costs one write. A window admits at most ``limit`` requests, so any span of N windows admits at most
(N + 1) x limit: never more than the budget's rate sustained plus one window's burst, far inside RDS's
300-token burst. Window items expire through the table's TTL.

The budget hooks a boto3 RDS client on botocore's ``before-send`` event, so every HTTP attempt (retries too:
RDS counts each one) takes its token; the SDK-less complete download emits the same event
(``labkit.backup.rdslogs``), so it is counted like any call.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.errors import BackupError

log = logging.getLogger(__name__)

KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
TTL_S = 3600  # window items are kept an hour (DynamoDB's TTL deletes them some time after)
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"})


class BudgetWaitExceeded(BackupError):
    """The pipeline's RDS budget stayed spent for longer than a caller may wait: try again later."""


class BudgetTableMissing(BackupError):
    """The budget's table is not there (a stack deployed before it existed): every RDS request waits on it."""


def is_throttled(exc: BaseException) -> bool:
    """True for a budget that stayed spent and for RDS's own throttling answer (after botocore's retries)."""
    if isinstance(exc, BudgetWaitExceeded):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") in THROTTLE_CODES
    return False


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments for the budget table (the Pulumi stack declares the same): no stream, on demand."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
    }


@dataclass
class RdsBudget:
    """At most ``per_s`` RDS requests a second over every process that shares ``table_name``.

    ``dynamodb`` is a boto3 DynamoDB *client* (thread-safe, unlike a resource's Table), shared by the threads
    of one process. ``clock`` and ``sleep`` are injectable so tests can drive time.
    """

    dynamodb: Any
    table_name: str
    per_s: float
    max_wait_s: float = 10.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    taken: int = field(default=0, init=False)  # tokens this object took (a metric)
    waited_s: float = field(default=0.0, init=False)  # time it spent waiting for them

    def __post_init__(self) -> None:
        if self.per_s <= 0:
            raise ValueError(f"RDS budget {self.per_s}/s: expected a positive rate")
        # a window long enough to hold one whole request: 0.5/s -> 2-second windows of 1
        self.window_s = float(max(1, math.ceil(1 / self.per_s)))
        self.limit = max(1, math.floor(self.per_s * self.window_s))

    def take(self) -> None:
        """One request's token: at once when the window has room, else after waiting; BudgetWaitExceeded
        when no window had room within ``max_wait_s``."""
        started = self.clock()
        while True:
            now = self.clock()
            window = math.floor(now / self.window_s)
            if self._admit(window):
                self.taken += 1
                self.waited_s += now - started
                return
            next_start = (window + 1) * self.window_s
            if next_start - started > self.max_wait_s:
                self.waited_s += now - started
                raise BudgetWaitExceeded(
                    f"the pipeline's RDS budget ({self.per_s:g} requests/s, table {self.table_name}) stayed "
                    f"spent for {self.max_wait_s:g} s: the copy or scan is put off and tried again later "
                    "(raise LABKIT_RDS_BUDGET_RPS only if the account's other RDS clients leave room)"
                )
            self.sleep(max(0.0, next_start - now) + self.jitter() * self.window_s * 0.25)

    def _admit(self, window: int) -> bool:
        start = int(window * self.window_s)
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={KEY: {"S": f"rds#{start}"}},
                UpdateExpression="ADD n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self.limit)},
                    ":ttl": {"N": str(start + TTL_S)},
                },
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            if code == "ResourceNotFoundException":
                raise BudgetTableMissing(
                    f"the RDS budget table {self.table_name} does not exist: deploy the stack again "
                    "(`labkit deploy`, or `labkit local up` for the lab), which creates it"
                ) from exc
            raise
        return True

    def attach(self, rds: Any) -> Any:
        """Make every request of the boto3 RDS client ``rds`` take a token first; returns ``rds``."""
        rds.meta.events.register("before-send.rds", self._before_send, unique_id=f"labkit-budget-{id(self)}")
        return rds

    def _before_send(self, request: Any = None, **_: Any) -> None:
        self.take()  # returns None: botocore sends the request itself


def attached(budget: RdsBudget | None, rds: Any) -> Any:
    """``rds`` with the budget attached, or as it is when there is no budget (the fast local emulator)."""
    return rds if budget is None else budget.attach(rds)
