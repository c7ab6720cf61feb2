"""A spread scan through moto's SQS over HTTP: a message delayed by its instance's offset is not delivered
before it, one without delay is at once. Instances are picked by their offsets: none in between, so the
test does not depend on how fast the machine reaches the receive (30 s of margin)."""

from __future__ import annotations

from labkit.backup.scanner import InstanceMessage, send_messages, spread_delay_s
from tests.support.emulated import EmulatedAccount


def _ids_with(delay_ok, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    found = [f"fleet-{n}" for n in range(5000) if delay_ok(spread_delay_s(f"fleet-{n}", 60))]
    return found[:count]


def test_a_delayed_instance_is_not_delivered_before_its_offset(account: EmulatedAccount) -> None:
    sqs = account.client("sqs")
    url = sqs.create_queue(QueueName="spread-instances")["QueueUrl"]
    now, later = _ids_with(lambda d: d == 0, 3), _ids_with(lambda d: d >= 30, 7)
    messages = [InstanceMessage(i, "c", "aurora-mysql", "aurora") for i in now + later]
    assert send_messages(sqs, url, messages, spread_s=60) == {}
    received: list[str] = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        received += [m["Body"] for m in answer.get("Messages", [])]
    delivered = sorted(i for i in now + later if any(f'"instance_id": "{i}"' in body for body in received))
    assert delivered == sorted(now)
