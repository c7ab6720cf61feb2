"""DynamoDB serializes the writes to one item and numbers every stream record once. moto's threaded server
does neither on its own: two concurrent UpdateItem ADDs can both read the old value (a lost increment), and
its stream shard numbers a record ``len(items)``, so two concurrent writes can share a sequence number. The
last of two such records is then read again by every GetRecords after it, and a stream poller never goes
quiet (seen in CI: "the stream was still busy after 60 passes"). The emulator runs each DynamoDB request
alone, as DynamoDB's item-level atomicity promises.

Real parts: the emulator over HTTP, botocore clients in threads; nothing faked."""

from __future__ import annotations

import sys
import threading
from collections import Counter

from tests.support.emulated import EmulatedAccount
from tests.support.stream_lab import stream_sequence_numbers

THREADS, WRITES = 8, 40


def _stream_table(account: EmulatedAccount, name: str) -> str:
    dynamodb = account.client("dynamodb")
    answer = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    return str(answer["TableDescription"]["LatestStreamArn"])


def _in_threads(account: EmulatedAccount, work: object) -> None:
    """``work`` from THREADS threads at once. The emulator serves in this process: a tiny switch interval
    makes Python change threads often inside a request, so a race shows on any machine, fast or slow."""
    start = threading.Barrier(THREADS)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _run_all(account, work, start)
    finally:
        sys.setswitchinterval(interval)


def _run_all(account: EmulatedAccount, work: object, start: threading.Barrier) -> None:

    def run(n: int) -> None:
        client = account.client("dynamodb")  # one client per thread, as concurrent invocations have
        start.wait()
        for i in range(WRITES):
            work(client, n, i)  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_writes_get_one_stream_record_each_with_its_own_sequence_number(
    account: EmulatedAccount,
) -> None:
    # GIVEN a table with a stream, written by 8 threads at once, each write to an item of its own
    arn = _stream_table(account, "atomic-stream")

    def put(client: object, n: int, i: int) -> None:
        client.put_item(TableName="atomic-stream", Item={"pk": {"S": f"{n}-{i}"}})  # type: ignore[attr-defined]

    _in_threads(account, put)
    # WHEN the stream is read from its start, a few records at a time
    numbers = stream_sequence_numbers(account.client("dynamodbstreams"), arn, limit=7)
    # THEN it holds one record per write, each with a sequence number no other record has
    repeated = {n: c for n, c in Counter(numbers).items() if c > 1}
    assert repeated == {}
    assert len(numbers) == THREADS * WRITES


def test_concurrent_adds_to_one_item_lose_no_increment(account: EmulatedAccount) -> None:
    # GIVEN one counter item, incremented by 8 threads at once
    _stream_table(account, "atomic-counter")

    def add(client: object, n: int, i: int) -> None:
        client.update_item(  # type: ignore[attr-defined]
            TableName="atomic-counter",
            Key={"pk": {"S": "counter"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    _in_threads(account, add)
    # THEN every increment counted
    item = account.client("dynamodb").get_item(TableName="atomic-counter", Key={"pk": {"S": "counter"}})
    assert int(item["Item"]["n"]["N"]) == THREADS * WRITES
