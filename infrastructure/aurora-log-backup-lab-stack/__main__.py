"""Lab stack: Aurora MySQL with Advanced Auditing, and the serverless pipeline that backs its audit logs up.

Config is read once here (settings.read_settings: Pulumi stack config + labkit's LabConfig) and passed
down to one component per concern. Images come from the ECR stack through a StackReference.
"""

from __future__ import annotations

import aurora
import functions
import pulumi
import pulumi_aws as aws
from alarms import AlarmsArgs, PipelineAlarms
from athena import ArchiveQuery, ArchiveQueryArgs
from events import DailyManifests, EventsArgs, ManifestScheduleArgs, RdsDeletionEvents
from iam import AuditorRole, PipelineRoles, RolesArgs, Scope
from network import Network, NetworkArgs, endpoint_zones
from settings import FUNCTION_KEYS, read_settings
from storage import BackupStorage, StorageArgs
from test_host import TestHost, TestHostArgs

region = aws.get_region().region
scope = Scope(
    partition=aws.get_partition().partition, region=region, account_id=aws.get_caller_identity().account_id
)
settings = read_settings(pulumi.Config(), region=region, account_id=scope.account_id)
lab, names = settings.lab, settings.names
function_names = {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}

# --- images from the ECR stack ------------------------------------------------------------------------
ecr = pulumi.StackReference(settings.ecr_stack)


def _same_project(args: list) -> dict:
    urls, ecr_project = args
    if ecr_project != lab.project:
        raise ValueError(
            f"ECR stack {settings.ecr_stack} holds images of project {ecr_project!r}, this stack is "
            f"{lab.project!r}: give both stacks the same labProject"
        )
    return urls


repository_urls = pulumi.Output.all(ecr.get_output("repositoryUrls"), ecr.get_output("labProject")).apply(
    _same_project
)
image_uris = {
    key: repository_urls.apply(lambda urls, k=key: f"{urls[k]}:{settings.image_tags[k]}")
    for key in FUNCTION_KEYS
}

# --- components -----------------------------------------------------------------------------------------
azs = endpoint_zones(region, aws.get_availability_zones(state="available").names)
network = Network(
    "network",
    NetworkArgs(project=lab.project, cidr=settings.vpc_cidr, availability_zones=azs, region=region),
)
# the alarm topic first: RDS's deletion events arrive on it, and the detector's queue admits only it
alarms = PipelineAlarms(
    "alarms",
    AlarmsArgs(
        lab=lab,
        scope=scope,
        lag_threshold_s=settings.backup_lag_alarm_s,
        email=settings.alarm_email,
        rds_instance_ids=(lab.writer_id, lab.reader_id),
    ),
)
storage = BackupStorage(
    "backup-storage",
    StorageArgs(
        lab=lab,
        retention=settings.retention,
        lab_teardown=settings.lab_teardown,
        event_topic_arn=alarms.topic.arn,
    ),
)
roles = PipelineRoles(
    "pipeline-roles",
    RolesArgs(
        project=lab.project,
        function_names=function_names,
        log_prefix=lab.log_prefix,
        scope=scope,
        queue_arn=storage.queue.arn,
        failure_queue_arn=storage.stream_failures.arn,
        table_arn=storage.table.arn,
        budget_table_arn=storage.budget_table.arn,
        bucket_arn=storage.bucket.arn,
        key_arn=storage.key.arn,
        log_group_arns={
            key: scope.arn("logs", f"log-group:{functions.log_group_name(name)}")
            for key, name in function_names.items()
        },
    ),
)
backup = functions.BackupFunctions(
    "backup-functions",
    functions.FunctionsArgs(
        lab=lab,
        image_uris=image_uris,
        live_versions=settings.live_versions,
        role_arns={key: role.arn for key, role in roles.roles.items()},
        role_policies=dict(roles.policies),
        log_retention_days=settings.log_retention_days,
        subnet_ids=network.private_subnet_ids,
        security_group_id=network.lambda_security_group_id,
        queue_arn=storage.queue.arn,
        queue_url=storage.queue.url,
        stream_arn=storage.table.stream_arn,
        failure_queue_arn=storage.stream_failures.arn,
    ),
)
# once a day the scanner writes yesterday's and today's tamper-evident manifests
manifests = DailyManifests(
    "daily-manifests",
    ManifestScheduleArgs(
        lab=lab, function_name=backup.functions["scanner"].name, alias=backup.aliases["scanner"]
    ),
)
test_host = TestHost(
    "test-host",
    TestHostArgs(
        project=lab.project,
        region=region,
        scope=scope,
        vpc_id=network.vpc_id,
        subnet_id=network.public_subnet_ids[0],
        instance_type=settings.test_host_instance_type,
        key_name=settings.test_host_key_name,
        ssh_cidr=settings.test_host_ssh_cidr,
        ssm_prefix=settings.ssm_prefix,
    ),
)
cluster = aurora.AuroraCluster(
    "aurora",
    aurora.AuroraArgs(
        lab=lab,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        client_security_group_id=test_host.security_group.id,
        instance_class=settings.aurora_instance_class,
        engine_version=settings.aurora_engine_version,
        parameter_group_family=settings.aurora_parameter_group_family,
        ssm_prefix=settings.ssm_prefix,
        audit_logs_to_cloudwatch=settings.audit_logs_to_cloudwatch,
        log_retention_days=settings.log_retention_days,
    ),
)
test_host.grant_lab_access(scope, settings.ssm_prefix, cluster.master_secret_arn)
# RDS's "log file deleted" / "instance deleted" events -> alarm topic -> the detector reconciles at once
rds_events = RdsDeletionEvents(
    "rds-events",
    EventsArgs(
        lab=lab,
        topic_arn=alarms.topic.arn,
        queue_arn=storage.queue.arn,
        instance_ids=[cluster.writer.identifier, cluster.reader.identifier],
        queue_policy=storage.queue_policies["instances"],
    ),
)

# Athena over the backups (partition projection), its workgroup and named queries, and the auditor's role
archive = ArchiveQuery("archive-query", ArchiveQueryArgs(lab=lab, backup_bucket=storage.bucket.bucket))
auditor = AuditorRole(
    "auditor", lab.project, scope, archive.auditor_grants(lab, storage.bucket.arn, storage.key.arn)
)

# --- what the notebooks and the lab scripts read -----------------------------------------------------------
pulumi.export("labProject", lab.project)
pulumi.export("region", region)
pulumi.export("bucketName", storage.bucket.bucket)
pulumi.export("bucketArn", storage.bucket.arn)
pulumi.export("kmsKeyArn", storage.key.arn)
pulumi.export("tableName", storage.table.name)
pulumi.export("tableArn", storage.table.arn)
pulumi.export("tableStreamArn", storage.table.stream_arn)
pulumi.export("queueUrl", storage.queue.url)
pulumi.export("queueArn", storage.queue.arn)
pulumi.export("dlqUrl", storage.dlq.url)
pulumi.export("streamFailuresQueueUrl", storage.stream_failures.url)
pulumi.export("functionNames", {key: f.name for key, f in backup.functions.items()})
pulumi.export("functionArns", {key: f.arn for key, f in backup.functions.items()})
pulumi.export("functionVersions", {key: f.version for key, f in backup.functions.items()})
pulumi.export("aliasArns", {key: a.arn for key, a in backup.aliases.items()})
pulumi.export("imageUris", image_uris)
pulumi.export("clusterIdentifier", cluster.cluster.cluster_identifier)
pulumi.export("clusterEndpoint", cluster.cluster.endpoint)
pulumi.export("readerEndpoint", cluster.cluster.reader_endpoint)
pulumi.export("clusterPort", cluster.cluster.port)
pulumi.export("writerInstanceId", cluster.writer.identifier)
pulumi.export("readerInstanceId", cluster.reader.identifier)
pulumi.export("masterSecretArn", cluster.master_secret_arn)
# auditLogsToCloudWatch: the log group RDS publishes the audit log to (None: no export)
pulumi.export("auditLogGroup", cluster.audit_log_group.name if cluster.audit_log_group else None)
pulumi.export("masterUsername", lab.master_username)
pulumi.export("databaseName", lab.database)
pulumi.export("ssmPrefix", settings.ssm_prefix)
pulumi.export("testHostId", test_host.instance.id)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("alarmTopicArn", alarms.topic.arn)
pulumi.export("rdsEventSubscription", rds_events.subscription.name)
# what `labkit check --target aws` compares the bucket's Object Lock with (days 0: no default retention)
pulumi.export(
    "objectLock",
    {
        "days": settings.retention.object_lock_days,
        "mode": settings.retention.object_lock_mode if settings.retention.object_lock_days else None,
    },
)
pulumi.export("manifestScheduleRule", manifests.rule.name)
pulumi.export("alarmNames", {key: alarm.name for key, alarm in alarms.alarms.items()})
# labkit query --target aws: LabConfig derives the same names (athena_workgroup, glue_database)
pulumi.export("athenaWorkgroup", archive.workgroup.name)
pulumi.export("glueDatabase", archive.database.name)
pulumi.export("auditTable", archive.table.name)
pulumi.export("athenaResultsLocation", archive.results_location)
pulumi.export("namedQueryIds", {key: q.id for key, q in archive.named_queries.items()})
pulumi.export("auditorRoleArn", auditor.role.arn)
