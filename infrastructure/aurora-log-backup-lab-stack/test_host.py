"""The EC2 test host: sysbench + mysql client + the lab scripts, reached through SSM Session Manager.

No inbound rule unless the stack config names an SSH CIDR (never the world). The host sits in a public
subnet for package installs and SSM (there is no NAT gateway); only its outbound traffic is allowed.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
from iam import Scope, assume_role_policy, test_host_policy

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
LAB_SCRIPTS = ("setup_sysbench.sh", "test_audit_logs.sh")
INSTALL_DIR = "/opt/auditlab"
USER_DATA_LIMIT = 16 * 1024  # bytes, EC2's limit before base64
# Canonical's public parameter: the current Ubuntu 24.04 LTS AMI (sysbench and mysql-client from apt).
UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"


@dataclass(frozen=True)
class TestHostArgs:
    __test__ = False  # not a pytest class

    project: str
    region: str
    scope: Scope
    vpc_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    instance_type: str
    key_name: str | None
    ssh_cidr: str | None
    ssm_prefix: str


def scripts_archive(scripts_dir: Path = SCRIPTS_DIR) -> bytes:
    """The lab scripts as a gzipped tar, byte-identical between runs (no spurious user-data change)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in LAB_SCRIPTS:
            data = (scripts_dir / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def user_data(project: str, region: str, ssm_prefix: str, archive: bytes) -> str:
    payload = base64.b64encode(archive).decode()
    script = f"""#!/bin/bash
# {project}: place the lab scripts, then install sysbench and the mysql client. The database is
# prepared later from a Session Manager shell (setup_sysbench.sh), once Aurora is up.
set -euo pipefail
install -d -m 0755 {INSTALL_DIR}
echo '{payload}' | base64 -d | tar -xz -C {INSTALL_DIR}
cat > /etc/profile.d/auditlab.sh <<'ENV'
export AWS_REGION={region}
export AWS_DEFAULT_REGION={region}
export LAB_PROJECT={project}
export LAB_SSM_PREFIX={ssm_prefix}
export PATH="$PATH:{INSTALL_DIR}"
ENV
. /etc/profile.d/auditlab.sh
{INSTALL_DIR}/setup_sysbench.sh --install-only > /var/log/auditlab-setup.log 2>&1
"""
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(script.encode())} bytes; EC2 accepts {USER_DATA_LIMIT}")
    return script


class TestHost(pulumi.ComponentResource):
    __test__ = False  # not a pytest class

    def __init__(
        self,
        name: str,
        args: TestHostArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("labkit:lab:TestHost", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            "test-host-sg",
            vpc_id=args.vpc_id,
            description="Lab test host: no inbound (Session Manager); all outbound",
            tags={"Name": f"{args.project}-test-host"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            "test-host-out",
            security_group_id=self.security_group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="packages, SSM, Secrets Manager, Aurora",
            opts=child,
        )
        if args.ssh_cidr:
            aws.vpc.SecurityGroupIngressRule(
                "test-host-ssh",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=22,
                to_port=22,
                cidr_ipv4=args.ssh_cidr,
                description="SSH from the configured CIDR (optional; prefer Session Manager)",
                opts=child,
            )
        self.role = aws.iam.Role(
            "test-host-role",
            name=f"{args.project}-test-host",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            "test-host-ssm-core",
            role=self.role.name,
            policy_arn=f"arn:{args.scope.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )
        profile = aws.iam.InstanceProfile(
            "test-host-profile", name=f"{args.project}-test-host", role=self.role.name, opts=child
        )
        ami = aws.ssm.get_parameter_output(name=UBUNTU_AMI_PARAMETER)
        self.instance = aws.ec2.Instance(
            "test-host",
            ami=ami.value,
            instance_type=args.instance_type,
            subnet_id=args.subnet_id,
            associate_public_ip_address=True,
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=profile.name,
            key_name=args.key_name,
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            root_block_device={"encrypted": True, "volume_size": 16, "volume_type": "gp3"},
            user_data=user_data(args.project, args.region, args.ssm_prefix, scripts_archive()),
            user_data_replace_on_change=True,
            tags={"Name": f"{args.project}-test-host"},
            # a newer AMI must not replace the host under a running lab
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami"]),
        )
        self.register_outputs({"instanceId": self.instance.id})

    def grant_lab_access(self, scope: Scope, ssm_prefix: str, master_secret_arn: pulumi.Input[str]) -> None:
        """Read access to the Aurora parameters and master secret (they exist only after the cluster)."""
        aws.iam.RolePolicy(
            "test-host-policy",
            role=self.role.id,
            policy=pulumi.Output.from_input(master_secret_arn).apply(
                lambda arn: test_host_policy(scope, ssm_prefix=ssm_prefix, master_secret_arn=arn)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
