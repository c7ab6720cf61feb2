"""The Aurora MySQL cluster the lab backs up: writer + reader, Advanced Auditing on, private subnets.

The master password is created and rotated by RDS in Secrets Manager (manage_master_user_password): it never
appears in code, config or state. Endpoints and the secret's ARN are published as SSM parameters for the
test host's scripts. With ``auditLogsToCloudWatch`` the cluster also publishes its audit log to CloudWatch Logs
(what Security Hub RDS.34 checks), into a log group the stack creates first, with the stack's log retention.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from labkit.config import LabConfig

MYSQL_PORT = 3306


@dataclass(frozen=True)
class AuroraArgs:
    lab: LabConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    client_security_group_id: pulumi.Input[str]  # the test host
    instance_class: str
    engine_version: str  # pinned in settings (DEFAULT_AURORA_ENGINE_VERSION or auroraEngineVersion)
    parameter_group_family: str  # settings.parameter_group_family(engine_version): they must agree
    ssm_prefix: str
    audit_logs_to_cloudwatch: bool = False  # settings.audit_logs_to_cloudwatch (auditLogsToCloudWatch)
    log_retention_days: int = 14  # settings.log_retention_days, for the audit log group


def audit_log_group_name(cluster_id: str) -> str:
    """Where RDS publishes a cluster's audit log: /aws/rds/cluster/<cluster>/<log type> (Aurora User Guide,
    "Publishing Amazon Aurora MySQL logs to Amazon CloudWatch Logs")."""
    return f"/aws/rds/cluster/{cluster_id}/audit"


def audit_parameters(lab: LabConfig) -> list[dict[str, str]]:
    """Advanced Auditing, from the same settings the local MariaDB stand-in uses."""
    params = [
        {"name": "server_audit_logging", "value": "1"},
        {"name": "server_audit_events", "value": lab.audit_events},
    ]
    if lab.audit_incl_users:
        params.append({"name": "server_audit_incl_users", "value": lab.audit_incl_users})
    if lab.audit_excl_users:
        params.append({"name": "server_audit_excl_users", "value": lab.audit_excl_users})
    return [{**p, "apply_method": "immediate"} for p in params]


class AuroraCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: AuroraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:lab:AuroraCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = args.lab

        security_group = aws.ec2.SecurityGroup(
            "aurora-sg",
            vpc_id=args.vpc_id,
            description="Aurora MySQL: 3306 from the test host only",
            tags={"Name": f"{lab.project}-aurora"},
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            "aurora-from-test-host",
            security_group_id=security_group.id,
            ip_protocol="tcp",
            from_port=MYSQL_PORT,
            to_port=MYSQL_PORT,
            referenced_security_group_id=args.client_security_group_id,
            description="MySQL from the lab test host",
            opts=child,
        )
        subnet_group = aws.rds.SubnetGroup(
            "aurora-subnets",
            name=f"{lab.project}-aurora",
            subnet_ids=args.private_subnet_ids,
            description=f"{lab.project}: private subnets",
            opts=child,
        )
        parameter_group = aws.rds.ClusterParameterGroup(
            "aurora-audit",
            name=f"{lab.project}-audit",
            family=args.parameter_group_family,
            description=f"{lab.project}: Advanced Auditing ({lab.audit_events})",
            parameters=audit_parameters(lab),
            opts=child,
        )
        # RDS creates the log group itself on the first export, with no retention (kept forever) and outside
        # the stack, but writes into one that already has the name (AWS Support's answer quoted in
        # terraform-provider-aws#5348; #5695): so the stack creates it first and the cluster waits for it.
        # RDS publishes with its service-linked role (AWSServiceRoleForRDS): no role to grant here. Not
        # KMS-encrypted, as the Lambdas' log groups are not (CloudWatch Logs encrypts at rest itself).
        self.audit_log_group: aws.cloudwatch.LogGroup | None = None
        cluster_opts = child
        if args.audit_logs_to_cloudwatch:
            self.audit_log_group = aws.cloudwatch.LogGroup(
                "aurora-audit-logs",
                name=audit_log_group_name(lab.cluster_id),
                retention_in_days=args.log_retention_days,
                opts=child,
            )
            cluster_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.audit_log_group])
        self.cluster = aws.rds.Cluster(
            "aurora",
            cluster_identifier=lab.cluster_id,
            engine="aurora-mysql",
            engine_version=args.engine_version,
            database_name=lab.database,
            master_username=lab.master_username,
            manage_master_user_password=True,
            storage_encrypted=True,
            db_subnet_group_name=subnet_group.name,
            db_cluster_parameter_group_name=parameter_group.name,
            vpc_security_group_ids=[security_group.id],
            backup_retention_period=1,
            skip_final_snapshot=True,  # a lab: `pulumi destroy` must not leave a snapshot behind
            deletion_protection=False,
            apply_immediately=True,
            # the console's "Log exports"; an empty list turns a previous export off (the log group stays)
            enabled_cloudwatch_logs_exports=["audit"] if args.audit_logs_to_cloudwatch else [],
            opts=cluster_opts,
        )
        instances = {}
        previous: list[pulumi.Resource] = []
        for role, identifier, tier in (("writer", lab.writer_id, 0), ("reader", lab.reader_id, 1)):
            instances[role] = aws.rds.ClusterInstance(
                f"aurora-{role}",
                identifier=identifier,
                cluster_identifier=self.cluster.id,
                engine=self.cluster.engine,
                engine_version=self.cluster.engine_version,
                instance_class=args.instance_class,
                db_subnet_group_name=subnet_group.name,
                publicly_accessible=False,
                promotion_tier=tier,
                apply_immediately=True,
                # the first instance of a cluster becomes its writer
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [instances[role]]
        self.writer, self.reader = instances["writer"], instances["reader"]
        self.master_secret_arn = self.cluster.master_user_secrets.apply(lambda s: s[0].secret_arn)

        # What setup_sysbench.sh / test_audit_logs.sh read on the test host.
        published = {
            "writer-endpoint": self.cluster.endpoint,
            "reader-endpoint": self.cluster.reader_endpoint,
            "port": str(MYSQL_PORT),
            "database": lab.database,
            "master-username": lab.master_username,
            "master-secret-arn": self.master_secret_arn,
        }
        for key, value in published.items():
            aws.ssm.Parameter(
                f"ssm-{key}",
                name=f"{args.ssm_prefix}/{key}",
                type="String",
                insecure_value=value,  # endpoints and an ARN: nothing secret, readable in diffs
                description=f"{lab.project}: Aurora {key} for the lab scripts",
                opts=child,
            )
        self.register_outputs(
            {
                "clusterEndpoint": self.cluster.endpoint,
                "readerEndpoint": self.cluster.reader_endpoint,
                "masterSecretArn": self.master_secret_arn,
            }
        )
