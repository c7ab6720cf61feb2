"""Event shapes and partial-batch-response rules of the local Lambda runtime (no network)."""

from __future__ import annotations

import json

from labkit.local.runtime import batch_outcome as _batch_outcome
from labkit.local.runtime import scheduled_event, sqs_event

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/lab-scan-schedule"


def test_no_response_or_empty_failures_mean_the_whole_batch_succeeded() -> None:
    # GIVEN the answers a handler may give when nothing failed, WHEN read, THEN no item failed
    for answer in (None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "ok"):
        outcome = _batch_outcome(answer, ["a", "b"])
        assert outcome.failed is None and not outcome.error


def test_listed_items_fail_and_the_others_succeed() -> None:
    # GIVEN a partial batch response naming one item, WHEN read, THEN only that item failed
    outcome = _batch_outcome({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["a", "b", "c"])
    assert outcome.failed == {"b"} and not outcome.error


def test_a_malformed_response_fails_the_whole_batch_as_lambda_does() -> None:
    # GIVEN responses naming an unknown, empty or missing identifier
    for bad in ([{"itemIdentifier": "zzz"}], [{"itemIdentifier": ""}], [{"id": "a"}], ["a"]):
        # WHEN read, THEN every item of the batch failed and the function counts as errored
        outcome = _batch_outcome({"batchItemFailures": bad}, ["a", "b"])
        assert outcome.failed == {"a", "b"} and outcome.error


def test_sqs_event_is_json_and_shaped_like_lambdas() -> None:
    # GIVEN a ReceiveMessage result with a binary message attribute
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": '{"instance": "i-1"}',
        "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    }
    # WHEN it becomes an event
    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    # THEN it survives JSON and carries Lambda's field names
    record = json.loads(json.dumps(event))["Records"][0]
    assert record["messageId"] == "m-1" and record["eventSource"] == "aws:sqs"
    assert record["messageAttributes"]["blob"] == {
        "binaryValue": "AAE=",
        "dataType": "Binary",
        "stringListValues": [],
        "binaryListValues": [],
    }


def test_scheduled_event_names_the_rule_and_account() -> None:
    # GIVEN a rule ARN, WHEN a Scheduled Event is made, THEN it is EventBridge's shape for that rule
    event = scheduled_event(RULE_ARN, "us-east-1")
    assert event["source"] == "aws.events" and event["detail-type"] == "Scheduled Event"
    assert event["resources"] == [RULE_ARN] and event["account"] == "123456789012"
    assert event["version"] == "0" and event["detail"] == {}
