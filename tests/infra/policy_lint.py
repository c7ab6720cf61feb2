"""parliament's lint of the stacks' IAM documents, shared by the policy, alarm and RDS-events stack tests."""

from __future__ import annotations

import json
from typing import Any

from parliament import analyze_policy_string, enhance_finding

BLOCKING = {"MEDIUM", "HIGH", "CRITICAL"}


def blocking_findings(document: str) -> list[tuple[str, str, Any]]:
    """parliament's findings of MEDIUM severity or above (enhance_finding assigns the severity)."""
    findings = [enhance_finding(f) for f in analyze_policy_string(document).findings]
    return [(f.issue, f.severity, f.detail) for f in findings if f.severity in BLOCKING]


def with_implicit_resource(document: str, resource_arn: str) -> str:
    """A resource-based policy (trust, ECR repository) names no Resource: AWS applies it to the resource
    it is attached to. parliament lints identity policies, so it gets that Resource spelled out."""
    policy = json.loads(document)
    for statement in policy["Statement"]:
        if "Resource" not in statement and "NotResource" not in statement:
            statement["Resource"] = resource_arn
        statement.pop("Principal", None)
    return json.dumps(policy)
