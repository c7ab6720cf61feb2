"""What a handler receives from SQS: an event of messages and the parts of a Lambda context it reads."""

from __future__ import annotations

import time
import uuid
from typing import Any


class Context:
    """What the handlers read of a Lambda context."""

    function_name = "lab-log-detector"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lab-log-detector"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_event(*bodies: str, sent_ms: int | None = None) -> dict[str, Any]:
    """An SQS event of one record per body, sent now (or at ``sent_ms``)."""
    sent = str(int(time.time() * 1000) if sent_ms is None else sent_ms)
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lab-instances",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }
