"""What the lab's resources are called, which functions it has, and the resource policies both deploys
attach: one copy, for the stacks, both deploys, the local runtime and the workbook (names themselves:
:class:`labkit.config.ResourceNames`)."""

from __future__ import annotations

import json

FUNCTION_KEYS: tuple[str, str, str] = ("scanner", "detector", "downloader")


def event_subscription_name(project: str) -> str:
    """The RDS event subscription that sends the instances' events (log deletions) to the alarm topic."""
    return f"{project}-log-deletions"


def tls_only_policy(resource_arns: list[str], action: str) -> str:
    """Deny every request that does not come over TLS (aws:SecureTransport false)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": action,
                    "Resource": resource_arns,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


__all__ = ["FUNCTION_KEYS", "event_subscription_name", "tls_only_policy"]
