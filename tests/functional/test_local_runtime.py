"""The local Lambda runtime against moto's real server over HTTP.

The handlers here are FAKES standing in for the real scanner, detector and downloader Lambdas: they
record what they were given and fail on purpose, so these tests pin down the event-source semantics
(batching, partial batch responses, redrive, bisect, on-failure destination), not the backup logic.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.backup.streamfilter import DOWNLOADER_FILTER_CRITERIA
from labkit.config import LabConfig, load_config
from labkit.local.deploy import DeployedResources, deploy_local
from labkit.local.runtime import LambdaRuntime

DRAIN_S = 30.0


class FakeFunction:
    """A stand-in Lambda handler: records (event, context) and answers with ``behaviour(event)``."""

    def __init__(self, behaviour: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> None:
        self.behaviour = behaviour or (lambda event: None)
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        with self.lock:
            self.calls.append((event, context))
        return self.behaviour(event)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for event, _ in self.calls]


@pytest.fixture
def config(account, tmp_path: Path) -> LabConfig:  # type: ignore[no-untyped-def]
    return load_config(
        endpoint_url=account.url,
        state_dir=tmp_path,
        project=f"lab-{uuid.uuid4().hex[:8]}",  # moto's backends are per process: keep tests apart
        sqs_batch_size=10,
        stream_batch_size=4,
        stream_parallelization_factor=1,  # the one-lane rules; the lanes have tests of their own
        max_receive_count=3,
        stream_max_retries=2,
        scan_interval_s=3600.0,
    )


@pytest.fixture
def deployed(config: LabConfig) -> DeployedResources:
    return deploy_local(config)


@pytest.fixture
def fakes() -> dict[str, FakeFunction]:
    return {"scanner": FakeFunction(), "detector": FakeFunction(), "downloader": FakeFunction()}


@pytest.fixture
def runtime(
    config: LabConfig, deployed: DeployedResources, fakes: dict[str, FakeFunction]
) -> Iterator[LambdaRuntime]:
    rt = LambdaRuntime(config, **fakes, retry_delay_s=0.0, poll_interval_s=0.05)
    yield rt
    rt.stop()


def put_items(account, config: LabConfig, count: int, prefix: str = "f", writer: str = "detector") -> None:  # type: ignore[no-untyped-def]
    ddb = account.client("dynamodb")
    for i in range(count):
        ddb.put_item(
            TableName=config.names.table,
            Item={
                "pk": {"S": "instance-1"},
                "sk": {"S": f"{prefix}{i:03d}"},
                "n": {"N": str(i)},
                "writer": {"S": writer},
            },
        )


def sequence_numbers(events: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["dynamodb"]["SequenceNumber"] for r in e["Records"]] for e in events]


def receive_all(sqs, url: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
        "Messages", []
    ):
        messages.extend(batch)
    return messages


# -- SQS -> detector ------------------------------------------------------------------------------------------
def test_sqs_partial_batch_failure_deletes_only_successes(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a detector that reports the "fail-*" messages as failed the first time it sees them
    def detector(event: dict[str, Any]) -> dict[str, Any]:
        failed = [
            {"itemIdentifier": r["messageId"]}
            for r in event["Records"]
            if r["body"].startswith("fail") and r["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": failed}

    fakes["detector"].behaviour = detector
    sqs = account.client("sqs")
    bodies = ["ok-1", "fail-2", "ok-3", "fail-4"]
    sqs.send_message_batch(
        QueueUrl=deployed.queue_url,
        Entries=[
            {
                "Id": str(i),
                "MessageBody": body,
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": body[:2]}},
            }
            for i, body in enumerate(bodies)
        ],
    )
    # WHEN the runtime runs until the pipeline is idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN successes were delivered once, failures once more, and the queue and DLQ are empty
    delivered = [r["body"] for e in fakes["detector"].events for r in e["Records"]]
    assert sorted(delivered) == sorted(["ok-1", "ok-3", "fail-2", "fail-2", "fail-4", "fail-4"])
    assert receive_all(sqs, deployed.queue_url) == []
    assert receive_all(sqs, deployed.dlq_url) == []
    # ... as an AWS-shaped SQS event, with a context for detector:live
    first_event, context = fakes["detector"].calls[0]
    record = first_event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == deployed.queue_arn
    assert record["awsRegion"] == config.region
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "attributes", "messageAttributes"} <= set(
        record
    )
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["messageAttributes"]["kind"]["stringValue"] in ("ok", "fa")
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(record["attributes"])
    assert context.invoked_function_arn == deployed.alias_arns["detector"]
    assert context.invoked_function_arn.endswith(":live")
    assert context.function_name == config.names.detector
    assert context.function_version == deployed.functions["detector"].version
    assert 0 < context.get_remaining_time_in_millis() <= config.detector_timeout_s * 1000
    assert context.log_group_name == f"/aws/lambda/{config.names.detector}"
    assert len({c.aws_request_id for _, c in fakes["detector"].calls}) == len(fakes["detector"].calls)
    assert runtime.stats()["detector"]["item_failures"] == 2


def test_poison_message_lands_in_the_dlq_after_max_receive_count(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a detector that reports the poison message as failed every time (as powertools does for a
    # record whose handler raised), so it does not hold back the rest of its batch
    def detector(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "poison"
            ]
        }

    fakes["detector"].behaviour = detector
    sqs = account.client("sqs")
    sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="poison")
    # WHEN the runtime runs until idle, and a good message arrives after the poison
    runtime.start()
    sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="good")
    assert runtime.drain(DRAIN_S)
    # THEN the poison was tried maxReceiveCount times and is in the DLQ, and the good message is done
    poison_deliveries = [
        e for e in fakes["detector"].events if any(r["body"] == "poison" for r in e["Records"])
    ]
    assert len(poison_deliveries) == config.max_receive_count
    assert [m["Body"] for m in receive_all(sqs, deployed.dlq_url)] == ["poison"]
    assert receive_all(sqs, deployed.queue_url) == []
    assert any(r["body"] == "good" for e in fakes["detector"].events for r in e["Records"])
    assert runtime.stats()["detector"]["item_failures"] == config.max_receive_count


def test_a_raising_detector_fails_its_whole_batch_and_the_poller_survives(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a detector that raises on its first two invocations
    def detector(event: dict[str, Any]) -> None:
        if len(fakes["detector"].calls) <= 2:
            raise ValueError("boom")

    fakes["detector"].behaviour = detector
    sqs = account.client("sqs")
    sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="m")
    # WHEN the runtime runs until idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN nothing was deleted while it raised (the message came back), and the third delivery succeeded
    assert [r["body"] for e in fakes["detector"].events for r in e["Records"]] == ["m", "m", "m"]
    assert [
        r["attributes"]["ApproximateReceiveCount"] for e in fakes["detector"].events for r in e["Records"]
    ] == [
        "1",
        "2",
        "3",
    ]
    assert receive_all(sqs, deployed.dlq_url) == []
    assert runtime.stats()["detector"]["errors"] == 2
    assert runtime.running


# -- DynamoDB stream -> downloader -----------------------------------------------------------------------------
def test_stream_events_are_aws_shaped_batched_and_in_order(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN inserts, an update and a delete on the tracking table, and no filter on the mapping
    runtime.filter_criteria = {"Filters": []}
    put_items(account, config, 9)
    ddb = account.client("dynamodb")
    key = {"pk": {"S": "instance-1"}, "sk": {"S": "f001"}}
    ddb.update_item(
        TableName=config.names.table,
        Key=key,
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "100"}},
    )
    ddb.delete_item(TableName=config.names.table, Key={"pk": {"S": "instance-1"}, "sk": {"S": "f002"}})
    # WHEN the runtime runs until idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN every change arrived once, in sequence order, in batches of at most stream_batch_size
    batches = sequence_numbers(fakes["downloader"].events)
    flat = [n for batch in batches for n in batch]
    assert len(flat) == 11 and len(set(flat)) == 11
    assert flat == sorted(flat, key=int)
    assert all(1 <= len(batch) <= config.stream_batch_size for batch in batches)
    records = [r for e in fakes["downloader"].events for r in e["Records"]]
    assert [r["eventName"] for r in records] == ["INSERT"] * 9 + ["MODIFY", "REMOVE"]
    # ... shaped as Lambda delivers DynamoDB stream records
    modify = records[9]
    assert modify["eventSource"] == "aws:dynamodb"
    assert modify["eventSourceARN"] == deployed.stream_arn
    assert modify["awsRegion"] == config.region
    assert modify["eventVersion"] and modify["eventID"]
    body = modify["dynamodb"]
    assert body["Keys"] == key
    assert body["OldImage"]["n"] == {"N": "1"} and body["NewImage"]["n"] == {"N": "100"}
    assert body["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(body["SizeBytes"], int) and isinstance(body["ApproximateCreationDateTime"], int)
    assert abs(body["ApproximateCreationDateTime"] - time.time()) < 600
    assert "NewImage" not in records[10]["dynamodb"] and records[10]["dynamodb"]["OldImage"]
    _, context = fakes["downloader"].calls[0]
    assert context.invoked_function_arn == deployed.alias_arns["downloader"]
    assert context.memory_limit_in_mb == config.downloader_memory_mb


def test_partial_batch_response_retries_from_the_lowest_failed_sequence_number(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a downloader that, on its first call, reports the 2nd and 4th records of the batch as failed
    def downloader(event: dict[str, Any]) -> dict[str, Any] | None:
        if len(fakes["downloader"].calls) > 1:
            return None
        records = event["Records"]
        return {
            "batchItemFailures": [
                {"itemIdentifier": records[i]["dynamodb"]["SequenceNumber"]} for i in (3, 1)
            ]
        }

    fakes["downloader"].behaviour = downloader
    put_items(account, config, 4)
    # WHEN the runtime runs until idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN the retry starts at the lowest failed record: the one before it is never delivered again
    batches = sequence_numbers(fakes["downloader"].events)
    first = batches[0]
    assert len(first) == 4
    assert batches[1][0] == first[1]
    retried = [n for batch in batches[1:] for n in batch]
    assert first[0] not in retried
    assert sorted(set(retried), key=int) == first[1:]
    assert receive_all(account.client("sqs"), deployed.stream_failures_url) == []


def test_bisect_isolates_a_poison_record_which_ends_in_the_on_failure_queue(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a downloader that raises whenever the poison record is in its batch, and otherwise counts
    # each record it processed
    processed: dict[str, int] = {}

    def downloader(event: dict[str, Any]) -> None:
        keys = [r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"]]
        if "f005" in keys:
            raise RuntimeError("poison record")
        for k in keys:
            processed[k] = processed.get(k, 0) + 1

    fakes["downloader"].behaviour = downloader
    put_items(account, config, 12)
    # WHEN the runtime runs until idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN every other record was processed exactly once
    assert processed == {f"f{i:03d}": 1 for i in range(12) if i != 5}
    # ... the poison alone was retried stream_max_retries times after its first solo attempt
    solo = [
        e
        for e in fakes["downloader"].events
        if len(e["Records"]) == 1 and e["Records"][0]["dynamodb"]["Keys"]["sk"]["S"] == "f005"
    ]
    assert len(solo) == config.stream_max_retries + 1
    # ... and it is reported to the on-failure queue in AWS's shape
    failures = receive_all(account.client("sqs"), deployed.stream_failures_url)
    assert len(failures) == 1
    report = json.loads(failures[0]["Body"])
    poison_seq = solo[0]["Records"][0]["dynamodb"]["SequenceNumber"]
    info = report["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison_seq
    assert info["batchSize"] == 1
    assert info["streamArn"] == deployed.stream_arn
    assert info["shardId"].startswith("shardId-")
    assert report["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert report["requestContext"]["functionArn"] == deployed.alias_arns["downloader"]
    assert report["requestContext"]["approximateInvokeCount"] == config.stream_max_retries + 1
    assert report["responseContext"]["functionError"] == "Unhandled"
    assert runtime.stats()["stream"]["on_failure_sent"] == 1


def test_the_stream_filter_delivers_only_the_detectors_writes(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN the deployed mapping's filter, and writes by the detector, by the downloader, by nobody, a
    # downloader hand-over and a delete (TTL)
    assert deployed.stream_mapping["FilterCriteria"] == DOWNLOADER_FILTER_CRITERIA
    put_items(account, config, 3, prefix="det")
    put_items(account, config, 3, prefix="dl", writer="downloader")
    ddb = account.client("dynamodb")
    ddb.put_item(TableName=config.names.table, Item={"pk": {"S": "instance-1"}, "sk": {"S": "anon"}})
    ddb.update_item(
        TableName=config.names.table,
        Key={"pk": {"S": "instance-1"}, "sk": {"S": "dl000"}},
        UpdateExpression="SET writer = :w",
        ExpressionAttributeValues={":w": {"S": "downloader-continue"}},
    )
    ddb.delete_item(TableName=config.names.table, Key={"pk": {"S": "instance-1"}, "sk": {"S": "det001"}})
    # WHEN the runtime runs until idle
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN only the detector's writes and the hand-over were delivered; the rest never invoked anything
    delivered = [r["dynamodb"]["Keys"]["sk"]["S"] for e in fakes["downloader"].events for r in e["Records"]]
    assert delivered == ["det000", "det001", "det002", "dl000"]
    stream = runtime.stats()["stream"]
    assert (stream["records_read"], stream["records_filtered"]) == (9, 5)
    # ... and the filtered records are behind the checkpoint: a restart does not deliver them again
    runtime.stop()
    runtime.start()
    put_items(account, config, 1, prefix="late")
    assert runtime.drain(DRAIN_S)
    delivered = [r["dynamodb"]["Keys"]["sk"]["S"] for e in fakes["downloader"].events for r in e["Records"]]
    assert delivered == ["det000", "det001", "det002", "dl000", "late000"]


# -- EventBridge -> scanner ------------------------------------------------------------------------------------
def test_ticker_invokes_the_scanner_with_a_scheduled_event(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
) -> None:
    # GIVEN a runtime whose schedule fires every 0.2 s
    fast = load_config(**{**config.__dict__, "scan_interval_s": 0.2})
    runtime = LambdaRuntime(fast, **fakes, poll_interval_s=0.05, first_tick_s=0.0)
    # WHEN it runs for a while
    runtime.start()
    try:
        deadline = time.monotonic() + 10
        while len(fakes["scanner"].calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runtime.stop()
    # THEN the scanner got EventBridge's Scheduled Events for the lab's rule, through scanner:live
    assert len(fakes["scanner"].calls) >= 3
    event, context = fakes["scanner"].calls[0]
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == [deployed.rule_arn]
    assert event["region"] == config.region and event["account"] == "123456789012"
    assert event["time"].endswith("Z") and event["id"] and event["detail"] == {}
    assert context.invoked_function_arn == deployed.alias_arns["scanner"]
    assert len({e["id"] for e in fakes["scanner"].events}) == len(fakes["scanner"].calls)


def test_tick_invokes_the_scanner_now(
    config: LabConfig, deployed: DeployedResources, fakes: dict[str, FakeFunction], runtime: LambdaRuntime
) -> None:
    # GIVEN a runtime that is not started, WHEN it is ticked by hand, THEN the scanner runs once
    runtime.tick()
    assert [e["detail-type"] for e in fakes["scanner"].events] == ["Scheduled Event"]
    assert runtime.stats()["scanner"]["invocations"] == 1


# -- lifecycle -------------------------------------------------------------------------------------------------
def test_stop_is_prompt_and_leaves_no_thread_running(runtime: LambdaRuntime) -> None:
    # GIVEN a running runtime
    runtime.start()
    assert runtime.running
    # WHEN it is stopped
    started = time.monotonic()
    runtime.stop()
    # THEN it stopped within a second and none of its threads is left
    assert time.monotonic() - started < 1.0
    assert not runtime.running
    assert not [t for t in threading.enumerate() if t.name.startswith("lambda-")]


def test_drain_waits_for_the_whole_pipeline(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a detector that writes to the table (as the real one does) after a slow start
    ddb = account.client("dynamodb")

    def detector(event: dict[str, Any]) -> None:
        time.sleep(0.3)
        for r in event["Records"]:
            item = {"pk": {"S": "i"}, "sk": {"S": r["body"]}, "writer": {"S": "detector"}}
            ddb.put_item(TableName=config.names.table, Item=item)

    fakes["detector"].behaviour = detector
    account.client("sqs").send_message(QueueUrl=deployed.queue_url, MessageBody="file-1")
    # WHEN the runtime is started and drained
    runtime.start()
    assert runtime.drain(DRAIN_S)
    # THEN the downloader already saw the detector's write: drain returned only when all of it was done
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for e in fakes["downloader"].events for r in e["Records"]] == [
        "file-1"
    ]


def test_control_routes_let_another_process_tick_drain_and_read_counters(
    account,  # type: ignore[no-untyped-def]
    fakes: dict[str, FakeFunction],
    runtime: LambdaRuntime,
) -> None:
    # GIVEN a running runtime whose routes are mounted on the emulator, as the lab service does
    import urllib.request

    from labkit.local.runtime import control_routes

    account.server.app.routes.update(control_routes(runtime))
    runtime.start()

    def call(route: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(f"{account.url}/labkit-api/{route}", data=data, timeout=30) as answer:
            return json.loads(answer.read())

    # WHEN another process ticks, drains and reads the counters over HTTP
    ticked = call("runtime/tick", {})
    drained = call("runtime/drain", {"timeout": 20})
    stats = call("runtime")
    # THEN the scanner ran once, the pipeline is idle, and the counters say so
    assert ticked == {"ticked": True} and drained == {"idle": True}
    assert stats["running"] is True and stats["scanner"]["invocations"] == 1
    assert len(fakes["scanner"].calls) == 1


def test_the_local_deploy_tells_the_scanner_its_queue_url_as_the_stack_does(
    config: LabConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``queue_url`` is a config field both deploys set: the stack in the scanner's environment, the lab here."""
    from labkit.local.runtime import emulator_environment, start_local_pipeline

    # GIVEN an environment the test restores (start_local_pipeline sets the handlers' variables process-wide)
    for name in [*emulator_environment(config, config.endpoint_url), "LABKIT_QUEUE_URL"]:
        monkeypatch.setenv(name, "")
    # WHEN the lab deploys its resources and starts the handlers
    runtime = start_local_pipeline(config, config.endpoint_url)
    assert runtime is not None
    try:
        # THEN a config loaded as a handler loads it names the queue the deploy made, with no GetQueueUrl
        expected = deploy_local(config).queue_url  # safe to run twice: the same queue
        assert load_config().queue_url == expected == runtime.queue_url
    finally:
        runtime.stop()
