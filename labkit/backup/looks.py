"""Quiet instances are looked at less often, within a bound; a change or a deletion event wakes them.

Each scheduled look at an instance costs at least one RDS request (DescribeDBLogFiles), and most instances of a
fleet write nothing most minutes. After ``quiet`` looks in a row that found nothing to record, the next
``min(2 ** (quiet - 1), max_skip)`` scheduled looks are skipped; a look that records anything (a new, grown,
sealed or vanished file) or an RDS deletion event for the instance brings it back to every period at once.

Only Aurora-named instances back off. Aurora keeps its audit files for hours (retention by age) and rotates
at 100 MB, so a look ``max_skip + 1`` periods apart (4 minutes by default) loses nothing; an RDS for MySQL
instance can rotate its whole kept history in seconds (1 MB x 9 files by default), so it is looked at every
period.

The state lives in the budget table (``look#<instance>``: no stream, nothing wakes the downloader). A look is
claimed with one conditional write (due or not), and its result written after: a look that runs twice, late,
or on a stale claim at worst looks once more than needed, never less than the bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from labkit.backup.rdsbudget import KEY, TTL_ATTRIBUTE

TTL_S = 7 * 24 * 3600  # an instance not looked at for a week forgets its quiet count


def look_key(instance_id: str) -> str:
    return f"look#{instance_id}"


def skipped_looks(quiet: int, max_skip: int) -> int:
    """Scheduled looks to skip after ``quiet`` quiet looks in a row: 0, 1, 2, 4, ... up to ``max_skip``."""
    if quiet <= 0 or max_skip <= 0:
        return 0
    return int(min(2 ** min(quiet - 1, 30), max_skip))


@dataclass
class QuietBackoff:
    """Whether a scheduled look at an instance is due, and what a look found; ``dynamodb`` is a boto3
    DynamoDB client (thread-safe), ``period_s`` the scan period."""

    dynamodb: Any
    table_name: str
    period_s: float
    max_skip: int
    clock: Callable[[], float] = time.time

    def due(self, instance_id: str) -> int | None:
        """Claim a scheduled look: the quiet looks in a row before it when it is due, None when it is not
        (the instance is quiet and its skipped looks are not over)."""
        now = self.clock()
        try:
            answer = self.dynamodb.update_item(
                TableName=self.table_name,
                Key={KEY: {"S": look_key(instance_id)}},
                UpdateExpression="SET claimed_at = :now, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(next_look_at) OR next_look_at <= :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":now": {"N": repr(now)},
                    ":ttl": {"N": str(int(now) + TTL_S)},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return int(answer.get("Attributes", {}).get("quiet", {}).get("N", "0"))

    def looked(self, instance_id: str, quiet_before: int, found_something: bool) -> int:
        """Record a look's result; returns the scheduled looks now skipped. A look that found something
        (or a deletion event: ``quiet_before`` 0, ``found_something`` True) brings the instance back to
        every period."""
        quiet = 0 if found_something else quiet_before + 1
        skip = skipped_looks(quiet, self.max_skip)
        now = self.clock()
        # not quiet: due at once (the next scheduled scan may come any moment after a deletion event's look).
        # Quiet: half a period of slack, so the scheduled scan after the skipped ones, a whole number of
        # periods later give or take, finds it due
        next_look_at = now + (skip + 0.5) * self.period_s if skip else now
        self.dynamodb.update_item(
            TableName=self.table_name,
            Key={KEY: {"S": look_key(instance_id)}},
            UpdateExpression="SET quiet = :quiet, next_look_at = :next, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":quiet": {"N": str(quiet)},
                ":next": {"N": repr(next_look_at)},
                ":ttl": {"N": str(int(now) + TTL_S)},
            },
        )
        return skip
