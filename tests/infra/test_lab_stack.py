"""The lab stack's security and wiring properties, asserted on what the program declares under mocks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from pulumi_harness import (
    IMAGE_TAGS,
    LAB_DIR,
    LAB_PROJECT,
    REGION,
    ProgramRun,
    alias_arns,
    ecr_outputs,
    lab_config,
    run_program,
    stack_config,
)

FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
SUBNET = "aws:ec2/subnet:Subnet"
WORLD = ("0.0.0.0/0", "::/0")


def subnet_ids(run: ProgramRun, prefix: str) -> set[str]:
    return {run.id_of(SUBNET, name) for name in run.of_type(SUBNET) if name.startswith(prefix)}


# --- S3 ---------------------------------------------------------------------------------------------


def test_bucket_blocks_all_public_access(lab_run: ProgramRun) -> None:
    bpa = lab_run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "backups-public-access")
    assert bpa["bucket"] == stack_config().names.bucket
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert bpa[setting] is True, setting
    ownership = lab_run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "backups-ownership")
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"  # ACLs off


def test_bucket_policy_denies_every_request_without_tls(lab_run: ProgramRun) -> None:
    bucket = stack_config().names.bucket
    policy = json.loads(lab_run.one("aws:s3/bucketPolicy:BucketPolicy", "backups-tls-only")["policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny, "no Deny statement"
    (statement,) = deny
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bucket_encrypts_with_the_stacks_rotating_kms_key(lab_run: ProgramRun) -> None:
    key = lab_run.one("aws:kms/key:Key", "backup-key")
    assert key["enableKeyRotation"] is True
    key_arn = lab_run.state[("aws:kms/key:Key", "backup-key")]["arn"]
    sse = lab_run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "backups-encryption",
    )
    (rule,) = sse["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    assert rule["bucketKeyEnabled"] is True


def test_bucket_is_versioned_with_lifecycle_to_colder_storage_and_expiry(lab_run: ProgramRun) -> None:
    versioning = lab_run.one("aws:s3/bucketVersioning:BucketVersioning", "backups-versioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = lab_run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backups-lifecycle"
    )
    (rule,) = lifecycle["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"]["prefix"] == f"{stack_config().log_prefix}/"
    assert [(t["days"], t["storageClass"]) for t in rule["transitions"]] == [
        (30, "STANDARD_IA"),
        (90, "GLACIER_IR"),
    ]
    assert rule["expiration"]["days"] == 365
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration" not in {
        t for t, _ in lab_run.resources
    }  # Object Lock is opt-in


def test_object_lock_and_retention_come_from_stack_config() -> None:
    run = run_program(
        LAB_DIR,
        LAB_PROJECT,
        lab_config(objectLockDays="30", objectLockMode="COMPLIANCE", backupExpirationDays="0"),
        ecr_outputs(),
    )
    bucket = run.one("aws:s3/bucket:Bucket", "backups")
    # Object Lock comes from BucketObjectLockConfiguration on the existing bucket (issue 18 item 1)
    assert "objectLockEnabled" not in bucket
    assert bucket.get("forceDestroy") is not True  # only labTeardown force-destroys
    lock = run.one(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "backups-object-lock"
    )
    assert lock["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 30}
    (rule,) = run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backups-lifecycle"
    )["rules"]
    assert "expiration" not in rule  # 0 days = keep forever


def test_lifecycle_config_that_s3_would_reject_fails_before_deploying() -> None:
    with pytest.raises(ValueError, match="STANDARD_IA"):
        run_program(LAB_DIR, LAB_PROJECT, lab_config(backupInfrequentAccessDays="7"), ecr_outputs())


# --- DynamoDB and SQS ------------------------------------------------------------------------------


def test_table_has_stream_pitr_encryption_and_ttl(lab_run: ProgramRun) -> None:
    table = lab_run.one("aws:dynamodb/table:Table", "log-files")
    assert table["streamEnabled"] is True
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert (table["hashKey"], table["rangeKey"]) == ("pk", "sk")
    assert {a["name"]: a["type"] for a in table["attributes"]} == {"pk": "S", "sk": "S", "live_pk": "S"}
    [index] = table["globalSecondaryIndexes"]  # the sparse index of live files the detector queries
    assert (index["name"], index["hashKey"], index["rangeKey"], index["projectionType"]) == (
        "live-files",
        "live_pk",
        "sk",
        "ALL",
    )


def test_rds_budget_table_is_encrypted_expires_its_windows_and_feeds_no_stream(lab_run: ProgramRun) -> None:
    table = lab_run.one("aws:dynamodb/table:Table", "rds-budget")
    assert table["name"] == stack_config().names.budget
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert table["hashKey"] == "pk" and "rangeKey" not in table
    assert not table.get("streamEnabled")  # a budget write must never wake the downloader


def test_every_function_gets_the_rds_budget_setting(lab_run: ProgramRun) -> None:
    config = stack_config()
    for function in lab_run.of_type("aws:lambda/function:Function").values():
        env = function["environment"]["variables"]
        assert env["LABKIT_RDS_BUDGET_RPS"] == str(config.rds_budget_rps)
        assert env["LABKIT_RDS_BUDGET_WAIT_S"] == str(config.rds_budget_wait_s)
        assert env["LABKIT_TARGET"] == "aws"  # so the default budget (10/s) applies in the handler


def test_every_queue_is_encrypted_and_tls_only(lab_run: ProgramRun) -> None:
    queues = lab_run.of_type("aws:sqs/queue:Queue")
    assert sorted(queues) == ["instances", "instances-dlq", "stream-failures"]
    for name, queue in queues.items():
        assert queue.get("sqsManagedSseEnabled") is True or queue.get("kmsMasterKeyId"), name
    policies = lab_run.of_type("aws:sqs/queuePolicy:QueuePolicy")
    assert sorted(policies) == ["instances-dlq-tls-only", "instances-tls-only", "stream-failures-tls-only"]
    # the detector's queue also admits the alarm topic (test_rds_events_stack): its Deny is checked here
    for policy in policies.values():
        (statement,) = [s for s in json.loads(policy["policy"])["Statement"] if s["Effect"] == "Deny"]
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_redrives_to_the_dlq_after_max_receive_count(lab_run: ProgramRun) -> None:
    queue = lab_run.one("aws:sqs/queue:Queue", "instances")
    redrive = json.loads(queue["redrivePolicy"])
    dlq_arn = lab_run.state[("aws:sqs/queue:Queue", "instances-dlq")]["arn"]
    assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": stack_config().max_receive_count}
    assert lab_run.one("aws:sqs/queue:Queue", "instances-dlq")["messageRetentionSeconds"] == 14 * 24 * 3600


# --- Lambdas and event sources ---------------------------------------------------------------------


def test_functions_are_published_images_with_a_tag_each_in_private_subnets(lab_run: ProgramRun) -> None:
    private = subnet_ids(lab_run, "private-")
    urls = ecr_outputs()["repositoryUrls"]
    functions = lab_run.of_type(FUNCTION)
    assert sorted(functions) == ["detector", "downloader", "scanner"]
    for key, function in functions.items():
        assert function["packageType"] == "Image"
        assert function["imageUri"] == f"{urls[key]}:{IMAGE_TAGS[key]}"
        assert function["publish"] is True
        assert set(function["vpcConfig"]["subnetIds"]) == private
        assert function["vpcConfig"]["securityGroupIds"] == [
            lab_run.id_of("aws:ec2/securityGroup:SecurityGroup", "lambda-sg")
        ]


def test_each_function_has_a_live_alias_on_its_published_version(lab_run: ProgramRun) -> None:
    names = stack_config().names
    aliases = lab_run.of_type("aws:lambda/alias:Alias")
    assert sorted(aliases) == ["detector-live", "downloader-live", "scanner-live"]
    for key, fn in (
        ("scanner", names.scanner),
        ("detector", names.detector),
        ("downloader", names.downloader),
    ):
        alias = aliases[f"{key}-live"]
        assert (alias["name"], alias["functionName"]) == ("live", fn)
        assert alias["functionVersion"] == lab_run.state[(FUNCTION, key)]["version"]


def test_live_alias_can_be_pinned_to_an_older_version_from_config() -> None:
    run = run_program(LAB_DIR, LAB_PROJECT, lab_config(downloaderLiveVersion="3"), ecr_outputs())
    assert run.one("aws:lambda/alias:Alias", "downloader-live")["functionVersion"] == "3"
    assert run.one("aws:lambda/alias:Alias", "scanner-live")["functionVersion"] == "7"


def test_every_event_source_invokes_the_live_alias_not_the_bare_function(lab_run: ProgramRun) -> None:
    aliases = alias_arns(lab_run)
    mappings = lab_run.of_type(ESM)
    assert {name: m["functionName"] for name, m in mappings.items()} == {
        "detector-from-queue": aliases["detector"],
        "downloader-from-stream": aliases["downloader"],
    }
    targets = lab_run.of_type("aws:cloudwatch/eventTarget:EventTarget")
    # the scan schedule and the daily manifest schedule (tests/infra/test_manifest_schedule.py)
    assert [t["arn"] for t in targets.values()] == [aliases["scanner"]] * 2
    permission = lab_run.one("aws:lambda/permission:Permission", "scanner-from-schedule")
    rule_arn = lab_run.state[("aws:cloudwatch/eventRule:EventRule", "scan-schedule")]["arn"]
    assert (permission["qualifier"], permission["principal"], permission["sourceArn"]) == (
        "live",
        "events.amazonaws.com",
        rule_arn,
    )


def test_event_source_mappings_report_partial_failures_and_park_poison_records(lab_run: ProgramRun) -> None:
    config = stack_config()
    queue = lab_run.one(ESM, "detector-from-queue")
    assert queue["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["eventSourceArn"] == lab_run.state[("aws:sqs/queue:Queue", "instances")]["arn"]
    stream = lab_run.one(ESM, "downloader-from-stream")
    assert stream["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["eventSourceArn"] == lab_run.state[("aws:dynamodb/table:Table", "log-files")]["streamArn"]
    assert stream["bisectBatchOnFunctionError"] is True
    assert stream["maximumRetryAttempts"] == config.stream_max_retries
    failures_arn = lab_run.state[("aws:sqs/queue:Queue", "stream-failures")]["arn"]
    assert stream["destinationConfig"] == {"onFailure": {"destinationArn": failures_arn}}


def test_the_stream_mapping_filters_out_the_downloaders_own_writes(lab_run: ProgramRun) -> None:
    """The mapping carries labkit's stream filter, the one the local runtime applies too."""
    import json as _json

    from labkit.backup.streamfilter import DOWNLOADER_FILTER_CRITERIA as criteria
    from labkit.backup.streamfilter import matches_criteria

    stream = lab_run.one(ESM, "downloader-from-stream")
    declared = [f["pattern"] for f in stream["filterCriteria"]["filters"]]
    assert declared == [f["Pattern"] for f in criteria["Filters"]]
    assert all(isinstance(_json.loads(p), dict) for p in declared)  # patterns are JSON strings
    as_aws = {"Filters": [{"Pattern": p} for p in declared]}
    detector_write = {"dynamodb": {"NewImage": {"writer": {"S": "detector"}}}}
    own_write = {"dynamodb": {"NewImage": {"writer": {"S": "downloader"}}}}
    assert matches_criteria(as_aws, detector_write) and not matches_criteria(as_aws, own_write)


# --- network ---------------------------------------------------------------------------------------


def test_vpc_spans_two_azs_with_public_and_private_subnets(lab_run: ProgramRun) -> None:
    subnets = lab_run.of_type(SUBNET)
    assert sorted(subnets) == ["private-0", "private-1", "public-0", "public-1"]
    assert {s["availabilityZone"] for s in subnets.values()} == {f"{REGION}a", f"{REGION}b"}
    public_rt = lab_run.one("aws:ec2/routeTable:RouteTable", "public-rt")
    assert public_rt["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-id"}]
    private_rt = lab_run.one("aws:ec2/routeTable:RouteTable", "private-rt")
    assert not private_rt.get("routes"), "private subnets must have no route out of the VPC"


def test_vpc_endpoints_sit_only_in_private_subnets(lab_run: ProgramRun) -> None:
    private = subnet_ids(lab_run, "private-")
    private_rt = lab_run.id_of("aws:ec2/routeTable:RouteTable", "private-rt")
    endpoints = lab_run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    by_service = {e["serviceName"].rsplit(".", 1)[1]: e for e in endpoints.values()}
    assert sorted(by_service) == ["dynamodb", "rds", "s3", "sqs"]
    for service in ("s3", "dynamodb"):
        assert by_service[service]["vpcEndpointType"] == "Gateway"
        assert by_service[service]["routeTableIds"] == [private_rt]
    for service in ("rds", "sqs"):
        endpoint = by_service[service]
        assert endpoint["vpcEndpointType"] == "Interface"
        assert endpoint["privateDnsEnabled"] is True
        assert set(endpoint["subnetIds"]) == private
        assert endpoint["serviceName"] == f"com.amazonaws.{REGION}.{service}"


def test_endpoint_https_is_open_to_the_private_subnets_only(lab_run: ProgramRun) -> None:
    private_cidrs = {s["cidrBlock"] for n, s in lab_run.of_type(SUBNET).items() if n.startswith("private-")}
    sg = lab_run.id_of("aws:ec2/securityGroup:SecurityGroup", "endpoints-sg")
    rules = [
        r
        for r in lab_run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").values()
        if r["securityGroupId"] == sg
    ]
    assert {r["cidrIpv4"] for r in rules} == private_cidrs
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (443, 443, "tcp") for r in rules)


def _ingress_sources(run: ProgramRun) -> list[str]:
    sources = []
    for rule in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").values():
        sources += [rule.get("cidrIpv4"), rule.get("cidrIpv6")]
    for rule in run.of_type("aws:ec2/securityGroupRule:SecurityGroupRule").values():
        if rule["type"] == "ingress":
            sources += rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", [])
    for group in run.of_type("aws:ec2/securityGroup:SecurityGroup").values():
        for rule in group.get("ingress", []):
            sources += rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", [])
    return [s for s in sources if s]


def test_nothing_is_open_to_the_world(lab_run: ProgramRun) -> None:
    sources = _ingress_sources(lab_run)
    assert sources, "expected some CIDR-based ingress (the endpoints') to check"
    assert not set(sources) & set(WORLD)
    test_host_rules = [
        r
        for r in lab_run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.startswith("test-host")
    ]
    assert test_host_rules == []  # Session Manager only, by default


def test_optional_ssh_is_limited_to_the_configured_cidr_and_never_the_world() -> None:
    run = run_program(
        LAB_DIR,
        LAB_PROJECT,
        lab_config(testHostSshCidr="203.0.113.10/32", testHostKeyName="lab-key"),
        ecr_outputs(),
    )
    ssh = run.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "test-host-ssh")
    assert (ssh["cidrIpv4"], ssh["fromPort"]) == ("203.0.113.10/32", 22)
    assert run.one("aws:ec2/instance:Instance", "test-host")["keyName"] == "lab-key"
    with pytest.raises(ValueError, match="SSH to the world"):
        run_program(LAB_DIR, LAB_PROJECT, lab_config(testHostSshCidr="0.0.0.0/0"), ecr_outputs())


# --- Aurora and the test host ----------------------------------------------------------------------


def _keys(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def test_aurora_password_is_managed_by_rds_never_plaintext(lab_run: ProgramRun) -> None:
    cluster = lab_run.one("aws:rds/cluster:Cluster", "aurora")
    assert cluster["manageMasterUserPassword"] is True
    assert cluster["storageEncrypted"] is True
    password_inputs = [
        (typ, name, key)
        for (typ, name), inputs in lab_run.resources.items()
        for key in _keys(inputs)
        if "password" in key.lower() and key != "manageMasterUserPassword"
    ]
    assert password_inputs == []  # no masterPassword, no password anywhere in any resource's inputs
    stack_config = (LAB_DIR / "Pulumi.dev.yaml").read_text().lower()
    assert "password" not in stack_config


def test_aurora_runs_writer_and_reader_in_private_subnets_with_auditing(lab_run: ProgramRun) -> None:
    config = stack_config()
    cluster = lab_run.one("aws:rds/cluster:Cluster", "aurora")
    assert cluster["engine"] == "aurora-mysql"
    assert cluster["clusterIdentifier"] == config.cluster_id
    (group,) = lab_run.of_type("aws:rds/subnetGroup:SubnetGroup").values()
    assert set(group["subnetIds"]) == subnet_ids(lab_run, "private-")
    instances = lab_run.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert {i["identifier"] for i in instances.values()} == {config.writer_id, config.reader_id}
    assert all(i["publiclyAccessible"] is False for i in instances.values())
    params = {
        p["name"]: p["value"]
        for p in lab_run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aurora-audit")[
            "parameters"
        ]
    }
    assert params == {"server_audit_logging": "1", "server_audit_events": config.audit_events}
    assert (
        cluster["dbClusterParameterGroupName"]
        == lab_run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aurora-audit")["name"]
    )


def test_audit_events_are_configurable_from_the_stack() -> None:
    run = run_program(
        LAB_DIR, LAB_PROJECT, lab_config(auditEvents="CONNECT,QUERY_DDL,QUERY_DCL"), ecr_outputs()
    )
    params = {
        p["name"]: p["value"]
        for p in run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aurora-audit")["parameters"]
    }
    assert params["server_audit_events"] == "CONNECT,QUERY_DDL,QUERY_DCL"


def test_aurora_accepts_mysql_from_the_test_host_only(lab_run: ProgramRun) -> None:
    (rule,) = [
        r
        for r in lab_run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").values()
        if r["securityGroupId"] == lab_run.id_of("aws:ec2/securityGroup:SecurityGroup", "aurora-sg")
    ]
    assert rule["referencedSecurityGroupId"] == lab_run.id_of(
        "aws:ec2/securityGroup:SecurityGroup", "test-host-sg"
    )
    assert (rule["fromPort"], rule["toPort"]) == (3306, 3306)


def test_test_host_uses_ssm_imdsv2_and_installs_the_lab_scripts(
    lab_run: ProgramRun, lab_modules: None
) -> None:
    import base64
    import gzip
    import io
    import tarfile

    from test_host import SCRIPTS_DIR, USER_DATA_LIMIT

    host = lab_run.one("aws:ec2/instance:Instance", "test-host")
    assert host["metadataOptions"]["httpTokens"] == "required"
    assert host["rootBlockDevice"]["encrypted"] is True
    assert "keyName" not in host
    attachment = lab_run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "test-host-ssm-core")
    assert attachment["policyArn"].endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore")
    user_data = host["userData"]
    assert len(user_data.encode()) <= USER_DATA_LIMIT
    payload = re.search(r"echo '([A-Za-z0-9+/=]+)' \| base64 -d", user_data)
    assert payload, "scripts archive not found in user data"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(payload.group(1))))) as tar:
        placed = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert placed == {
        name: (SCRIPTS_DIR / name).read_bytes() for name in ("setup_sysbench.sh", "test_audit_logs.sh")
    }
    assert "setup_sysbench.sh --install-only" in user_data
    assert f"LAB_SSM_PREFIX=/{LAB_PROJECT}/aurora" in user_data


def test_endpoints_and_secret_arn_are_published_where_the_scripts_look(lab_run: ProgramRun) -> None:
    params = {p["name"]: p["insecureValue"] for p in lab_run.of_type("aws:ssm/parameter:Parameter").values()}
    prefix = f"/{LAB_PROJECT}/aurora"
    cluster = lab_run.state[("aws:rds/cluster:Cluster", "aurora")]
    assert params == {
        f"{prefix}/writer-endpoint": cluster["endpoint"],
        f"{prefix}/reader-endpoint": cluster["readerEndpoint"],
        f"{prefix}/port": "3306",
        f"{prefix}/database": "labdb",
        f"{prefix}/master-username": "labadmin",
        f"{prefix}/master-secret-arn": cluster["masterUserSecrets"][0]["secretArn"],
    }
    script = (LAB_DIR.parent / "scripts" / "setup_sysbench.sh").read_text()
    for key in ("writer-endpoint", "port", "database", "master-username", "master-secret-arn"):
        assert f"lookup {key} " in script


# --- outputs, StackReference, failure modes --------------------------------------------------------


def test_outputs_a_notebook_needs(lab_run: ProgramRun) -> None:
    out = lab_run.outputs
    names = stack_config().names
    assert out["bucketName"] == names.bucket
    assert out["tableName"] == names.table
    assert out["queueUrl"].endswith(f"/{names.queue}")
    assert out["aliasArns"] == alias_arns(lab_run)
    assert set(out["functionArns"]) == {"scanner", "detector", "downloader"}
    assert out["clusterEndpoint"].startswith(stack_config().cluster_id)
    assert out["readerEndpoint"]
    assert out["testHostId"].startswith("i-")
    assert out["region"] == REGION


def test_images_come_from_the_ecr_stack_of_the_same_organization_and_stack(lab_run: ProgramRun) -> None:
    assert lab_run.stack_references == ["organization/aurora-log-backup-lab-ecr/dev"]


def test_missing_image_tags_fail_with_the_make_target_to_run() -> None:
    config = lab_config()
    del config[f"{LAB_PROJECT}:detectorImageTag"]
    with pytest.raises(ValueError, match="make build-and-push-versioned"):
        run_program(LAB_DIR, LAB_PROJECT, config, ecr_outputs())


def test_an_ecr_stack_of_another_project_is_refused() -> None:
    """The check runs inside an apply: this also proves the harness surfaces errors raised there."""
    with pytest.raises(ValueError, match="same labProject"):
        run_program(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs(project="someone-else"))


def test_the_object_lock_labkit_check_expects_is_a_stack_output(lab_run: ProgramRun) -> None:
    # GIVEN the default config (no Object Lock) and one with a COMPLIANCE lock
    locked = run_program(
        LAB_DIR,
        LAB_PROJECT,
        lab_config(objectLockDays="30", objectLockMode="COMPLIANCE", backupExpirationDays="0"),
        ecr_outputs(),
    )
    # THEN the objectLock output says what `labkit check` must find on the bucket
    assert lab_run.outputs["objectLock"] == {"days": 0, "mode": None}
    assert locked.outputs["objectLock"] == {"days": 30, "mode": "COMPLIANCE"}
