"""Every security group and security-group rule description in the lab stack is one EC2 accepts.

EC2 refuses a rule description outside ``a-zA-Z0-9 ._-:/()#,@[]+=;{}!$*`` (and longer than 255
characters) at deploy time; mocks accept anything, so the stack's declared descriptions are checked here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pulumi_harness import LAB_DIR, LAB_PROJECT, ProgramRun, ecr_outputs, lab_config, run_program

# EC2's documented set for security-group rule descriptions (a group's own description allows a
# superset, with '&'); the stricter one is applied to both.
ALLOWED = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]{0,255}")
GROUP_TYPES = ("aws:ec2/securityGroup:SecurityGroup",)
RULE_TYPES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)


def descriptions(run: ProgramRun) -> dict[str, str]:
    """resource -> description, for every group, standalone rule and inline rule the stack declares."""
    found: dict[str, str] = {}
    for typ in GROUP_TYPES + RULE_TYPES:
        for name, inputs in run.of_type(typ).items():
            if "description" in inputs:
                found[f"{typ} {name}"] = inputs["description"]
            for direction in ("ingress", "egress"):
                for i, rule in enumerate(inputs.get(direction) or []):
                    if "description" in rule:
                        found[f"{typ} {name} {direction}[{i}]"] = rule["description"]
    return found


def rejected(found: dict[str, Any]) -> dict[str, Any]:
    return {where: text for where, text in found.items() if not ALLOWED.fullmatch(text)}


@pytest.fixture(scope="module")
def run_with_ssh() -> ProgramRun:
    """The optional SSH rule too: every rule the stack can declare."""
    return run_program(
        LAB_DIR,
        LAB_PROJECT,
        lab_config(testHostSshCidr="203.0.113.10/32", testHostKeyName="lab-key"),
        ecr_outputs(),
    )


def test_every_group_and_rule_description_uses_only_characters_ec2_accepts(run_with_ssh: ProgramRun) -> None:
    found = descriptions(run_with_ssh)
    # the three groups, the endpoints' two ingress rules, Aurora's, the SSH rule and the two egress rules
    assert len(found) >= 9, sorted(found)
    assert rejected(found) == {}


def test_the_default_stack_is_checked_too(lab_run: ProgramRun) -> None:
    assert rejected(descriptions(lab_run)) == {}


@pytest.mark.parametrize("text", ["MySQL from the lab's test host", "a & b", 'say "hi"', "x" * 256, "é"])
def test_the_check_refuses_what_ec2_refuses(text: str) -> None:
    assert rejected({"rule": text}) == {"rule": text}
