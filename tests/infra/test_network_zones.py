"""The lab's two zones are ones where every interface endpoint service is offered (issue 18 item 7).

The Lambdas reach RDS and SQS through interface endpoints in both private subnets; an endpoint service is
not offered in every zone of a Region, so the first two zone names may leave a subnet without its endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_harness import AZS, LAB_DIR, LAB_PROJECT, ProgramRun, ecr_outputs, lab_config, run_program

SUBNET = "aws:ec2/subnet:Subnet"
ENDPOINT_SERVICE = "aws:ec2/getVpcEndpointService:getVpcEndpointService"


def offered(zones: dict[str, list[str]]) -> dict[str, Any]:
    """A getVpcEndpointService answer per service: ``zones`` by the service's last name part."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        name = args["serviceName"]
        return {
            "serviceName": name,
            "serviceType": args.get("serviceType", "Interface"),
            "availabilityZones": zones[name.rsplit(".", 1)[-1]],
            "id": name,
        }

    return {ENDPOINT_SERVICE: answer}


def run(zones: dict[str, list[str]]) -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs(), invokes=offered(zones))


def subnet_zones(stack: ProgramRun) -> dict[str, str]:
    return {name: subnet["availabilityZone"] for name, subnet in stack.of_type(SUBNET).items()}


def test_the_subnets_go_where_every_interface_endpoint_service_is_offered() -> None:
    # GIVEN RDS's endpoint service offered in a, b, c and SQS's only in b and c
    stack = run({"rds": AZS, "sqs": AZS[1:]})
    # THEN both subnet pairs are in b and c, not in the first two names
    assert subnet_zones(stack) == {
        "public-0": AZS[1],
        "private-0": AZS[1],
        "public-1": AZS[2],
        "private-1": AZS[2],
    }
    looked_up = sorted(args["serviceName"] for token, args in stack.invokes if token == ENDPOINT_SERVICE)
    assert looked_up == ["com.amazonaws.eu-west-1.rds", "com.amazonaws.eu-west-1.sqs"]


def test_fewer_than_two_zones_offering_every_service_fails_before_deploying_and_names_them() -> None:
    with pytest.raises(ValueError, match=r"sqs: eu-west-1c"):
        run({"rds": AZS[:2], "sqs": AZS[2:]})
