"""Resource policies shared by the local deploy and the Pulumi stack, so both attach the same statement."""

from __future__ import annotations

import json


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
