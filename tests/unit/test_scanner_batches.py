"""send_message_batch's partial failures. moto's SQS never fails an entry, so a fake SQS client stands in
here (the happy path runs against moto's server in tests/functional/test_pipeline_core.py)."""

from __future__ import annotations

from typing import Any

from labkit.backup.scanner import InstanceMessage, send_messages


class FlakySqs:
    """Fails the entries it is told to, for as many calls as it is told to (a fake: see module docstring)."""

    def __init__(self, fail: dict[str, tuple[int, bool]]) -> None:
        self.fail = fail  # instance id -> (calls that fail it, sender fault)
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        self.calls.append([e["Id"] for e in Entries])
        failed = []
        for entry in Entries:
            instance = entry["MessageBody"].split('"instance_id": "')[1].split('"')[0]
            times, sender = self.fail.get(instance, (0, False))
            if times > 0:
                self.fail[instance] = (times - 1, sender)
                failed.append({"Id": entry["Id"], "Code": "Oops", "Message": "no", "SenderFault": sender})
        return {"Failed": failed, "Successful": []}


def messages(n: int) -> list[InstanceMessage]:
    return [InstanceMessage(f"db-{i}", "c", "aurora-mysql", "aurora") for i in range(n)]


def test_batches_of_ten_and_transient_failures_are_retried() -> None:
    sqs = FlakySqs({"db-3": (1, False)})
    assert send_messages(sqs, "url", messages(23)) == {}
    assert [len(c) for c in sqs.calls] == [10, 1, 10, 3]  # the retry sends only the failed entry


def test_sender_faults_and_persistent_failures_are_reported_not_dropped() -> None:
    sqs = FlakySqs({"db-1": (1, True), "db-2": (99, False)})
    failed = send_messages(sqs, "url", messages(5), attempts=3)
    assert set(failed) == {"db-1", "db-2"}
    assert failed["db-1"].startswith("Oops")
