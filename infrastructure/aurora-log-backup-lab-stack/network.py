"""VPC for the lab: public subnets (test host, internet gateway) and private subnets (Lambdas, Aurora).

The private subnets have no route to the internet; the Lambdas reach AWS through VPC endpoints only:
S3 and DynamoDB (gateway), RDS and SQS (interface, private DNS, 443 open only to the private subnets).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

GATEWAY_SERVICES = ("s3", "dynamodb")
INTERFACE_SERVICES = ("rds", "sqs")


def endpoint_zones(region: str, available: list[str], count: int = 2) -> list[str]:
    """The first ``count`` available zones (in the Region's order) where every interface endpoint service
    is offered: an endpoint service is not offered in every zone, and each private subnet needs both
    endpoints. Fewer such zones is an error naming each service's zones, not a silent pick."""
    per_service = {
        service: list(
            aws.ec2.get_vpc_endpoint_service(
                service_name=f"com.amazonaws.{region}.{service}", service_type="Interface"
            ).availability_zones
            or []
        )
        for service in INTERFACE_SERVICES
    }
    zones = [zone for zone in available if all(zone in offered for offered in per_service.values())]
    if len(zones) < count:
        where = "; ".join(
            f"{service}: {', '.join(found) or 'none'}" for service, found in per_service.items()
        )
        raise ValueError(
            f"{region}: fewer than {count} available zones ({', '.join(available)}) offer every interface "
            f"endpoint the Lambdas need ({where}): deploy the lab in another Region"
        )
    return zones[:count]


@dataclass(frozen=True)
class NetworkArgs:
    project: str
    cidr: str
    availability_zones: list[str]  # two, from endpoint_zones
    region: str


def subnet_cidrs(vpc_cidr: str) -> tuple[list[str], list[str]]:
    """/24s: public from the start of the range, private from the 10th /24 on."""
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(new_prefix=24))
    return [str(blocks[0]), str(blocks[1])], [str(blocks[10]), str(blocks[11])]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    lambda_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tag = args.project
        vpc = aws.ec2.Vpc(
            "vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,  # private DNS of the interface endpoints needs both
            enable_dns_support=True,
            tags={"Name": f"{tag}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway("igw", vpc_id=vpc.id, tags={"Name": f"{tag}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(
            "public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={"Name": f"{tag}-public"},
            opts=child,
        )
        private_rt = aws.ec2.RouteTable(
            "private-rt", vpc_id=vpc.id, tags={"Name": f"{tag}-private"}, opts=child
        )

        public_cidrs, private_cidrs = subnet_cidrs(args.cidr)
        self.public_subnet_ids, self.private_subnet_ids = [], []
        for i, az in enumerate(args.availability_zones[:2]):
            public = aws.ec2.Subnet(
                f"public-{i}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=az,
                map_public_ip_on_launch=False,  # the test host asks for its own public IP
                tags={"Name": f"{tag}-public-{az}"},
                opts=child,
            )
            private = aws.ec2.Subnet(
                f"private-{i}",
                vpc_id=vpc.id,
                cidr_block=private_cidrs[i],
                availability_zone=az,
                tags={"Name": f"{tag}-private-{az}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"public-{i}-rt", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"private-{i}-rt", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)

        endpoint_sg = aws.ec2.SecurityGroup(
            "endpoints-sg",
            vpc_id=vpc.id,
            description="HTTPS to the RDS and SQS interface endpoints from the private subnets",
            tags={"Name": f"{tag}-endpoints"},
            opts=child,
        )
        for i, cidr in enumerate(private_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"endpoints-https-private-{i}",
                security_group_id=endpoint_sg.id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=cidr,
                description=f"HTTPS from private subnet {i}",
                opts=child,
            )
        for service in GATEWAY_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{service}-endpoint",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[private_rt.id],
                tags={"Name": f"{tag}-{service}"},
                opts=child,
            )
        for service in INTERFACE_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{service}-endpoint",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags={"Name": f"{tag}-{service}"},
                opts=child,
            )

        lambda_sg = aws.ec2.SecurityGroup(
            "lambda-sg",
            vpc_id=vpc.id,
            description="Backup Lambdas: no inbound; HTTPS out to the VPC endpoints",
            tags={"Name": f"{tag}-lambdas"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            "lambda-https-out",
            security_group_id=lambda_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",  # only the endpoints are routable (gateway endpoints use public prefixes)
            description="HTTPS to AWS APIs through the VPC endpoints",
            opts=child,
        )
        self.vpc_id = vpc.id
        self.lambda_security_group_id = lambda_sg.id
        self.register_outputs(
            {
                "vpcId": vpc.id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "lambdaSecurityGroupId": lambda_sg.id,
            }
        )
