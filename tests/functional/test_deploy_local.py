"""Local deploy against moto's real server over HTTP: the application resources, named and set from LabConfig."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from labkit.backup.streamfilter import DOWNLOADER_FILTER_CRITERIA
from labkit.config import LabConfig, load_config
from labkit.errors import DeployError
from labkit.local.deploy import DeployedResources, deploy_local, destroy_local


@pytest.fixture
def config(account, tmp_path: Path) -> LabConfig:  # type: ignore[no-untyped-def]
    # moto's backends are per process: a project of its own keeps this test's resources apart
    return load_config(endpoint_url=account.url, state_dir=tmp_path, project=f"lab-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def deployed(config: LabConfig) -> DeployedResources:
    return deploy_local(config)


def test_deploy_twice_changes_nothing(account, config: LabConfig, deployed: DeployedResources) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a deployed lab
    lam = account.client("lambda")
    # WHEN the deploy runs again
    again = deploy_local(config)
    # THEN it reports the same resources, and published no new function version
    assert again == deployed
    for name in config.names.functions:
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        assert versions == ["$LATEST", "1"]
    queue_names = [url.rsplit("/", 1)[1] for url in account.client("sqs").list_queues()["QueueUrls"]]
    assert sorted(n for n in queue_names if n.startswith(config.project)) == sorted(
        [config.names.queue, config.names.dlq, config.names.stream_failures]
    )


def test_queue_settings_and_redrive_come_from_the_config(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
) -> None:
    # GIVEN a deployed lab
    sqs = account.client("sqs")
    # WHEN the instances queue is described
    attributes = sqs.get_queue_attributes(QueueUrl=deployed.queue_url, AttributeNames=["All"])["Attributes"]
    # THEN its visibility timeout, SSE and redrive policy are the stack's
    assert deployed.queue_url.endswith("/" + config.names.queue)
    assert (
        int(attributes["VisibilityTimeout"])
        == config.sqs_visibility_timeout_s
        == 6 * config.detector_timeout_s
    )
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": deployed.dlq_arn,
        "maxReceiveCount": config.max_receive_count,
    }
    assert deployed.dlq_arn.endswith(":" + config.names.dlq)
    assert deployed.stream_failures_arn.endswith(":" + config.names.stream_failures)
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_table_has_the_key_schema_stream_ttl_and_encryption(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
) -> None:
    # GIVEN a deployed lab
    ddb = account.client("dynamodb")
    # WHEN the tracking table is described
    table = ddb.describe_table(TableName=config.names.table)["Table"]
    ttl = ddb.describe_time_to_live(TableName=config.names.table)["TimeToLiveDescription"]
    # THEN it has pk/sk string keys, on-demand billing, a NEW_AND_OLD_IMAGES stream, TTL and SSE
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        "live_pk": "S",
    }
    # AND the sparse index of live files the detector reads
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "live-files" and index["Projection"] == {"ProjectionType": "ALL"}
    assert {k["AttributeName"]: k["KeyType"] for k in index["KeySchema"]} == {
        "live_pk": "HASH",
        "sk": "RANGE",
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": config.stream_view_type}
    assert config.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert table["LatestStreamArn"] == deployed.stream_arn
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert table["SSEDescription"]["Status"] == "ENABLED"


def test_bucket_is_private_versioned_and_encrypted(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
) -> None:
    # GIVEN a deployed lab
    s3 = account.client("s3")
    bucket = config.names.bucket
    # WHEN an object is written the way the downloader will write one
    s3.put_object(Bucket=bucket, Key="audit-logs/probe", Body=b"x")
    # THEN the bucket blocks public access, keeps versions, and encrypts with the lab's KMS key by default
    assert deployed.bucket == bucket
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": deployed.kms_key_arn,
    }
    head = s3.head_object(Bucket=bucket, Key="audit-logs/probe")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["VersionId"]


def test_functions_are_published_images_with_a_live_alias(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
) -> None:
    # GIVEN a deployed lab
    lam, ecr = account.client("lambda"), account.client("ecr")
    expected = {
        "scanner": (config.names.scanner, config.scanner_timeout_s),
        "detector": (config.names.detector, config.detector_timeout_s),
        "downloader": (config.names.downloader, config.downloader_timeout_s),
    }
    for key, (name, timeout) in expected.items():
        # WHEN each function and its alias are described
        function = lam.get_function(FunctionName=name)
        alias = lam.get_alias(FunctionName=name, Name="live")
        published = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        # THEN it is an image from its own ECR repository, sized as the stack sizes it,
        # and `live` points at a published version (not $LATEST)
        assert function["Configuration"]["PackageType"] == "Image"
        assert function["Configuration"]["Timeout"] == timeout
        image_uri = deployed.functions[key].image_uri
        assert function["Code"]["ImageUri"] == image_uri
        repo, tag = image_uri.rsplit("/", 1)[1].split(":")
        assert repo == name
        assert ecr.describe_images(repositoryName=name)["imageDetails"][0]["imageTags"] == [tag]
        assert alias["FunctionVersion"] in published and alias["FunctionVersion"] != "$LATEST"
        assert alias["AliasArn"] == deployed.alias_arns[key] == f"{deployed.function_arns[key]}:live"
    assert lam.get_function(FunctionName=config.names.downloader)["Configuration"]["MemorySize"] == (
        config.downloader_memory_mb
    )


def test_schedule_rule_targets_the_scanner_alias(
    account,  # type: ignore[no-untyped-def]
    config: LabConfig,
    deployed: DeployedResources,
) -> None:
    # GIVEN a deployed lab
    events = account.client("events")
    # WHEN the schedule rule and its targets are described
    rule = events.describe_rule(Name=config.names.schedule_rule)
    targets = events.list_targets_by_rule(Rule=config.names.schedule_rule)["Targets"]
    # THEN it runs on the configured schedule and invokes scanner:live
    assert rule["ScheduleExpression"] == config.scan_schedule
    assert rule["Arn"] == deployed.rule_arn
    assert [t["Arn"] for t in targets] == [deployed.alias_arns["scanner"]]


def test_no_event_source_mapping_is_created_in_moto(account, deployed: DeployedResources) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a deployed lab, WHEN the mappings are listed
    mappings = account.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    # THEN there are none on our queue or stream (moto's would drain them; the local runtime polls instead)
    assert not [m for m in mappings if m["EventSourceArn"] in (deployed.queue_arn, deployed.stream_arn)]


def test_the_stream_mapping_is_defined_with_the_stacks_filter(
    config: LabConfig, deployed: DeployedResources
) -> None:
    # GIVEN a deployed lab, WHEN its stream mapping is read THEN it points the table stream at downloader:live
    # with the retry/bisect/on-failure settings and the filter criteria the stack uses
    mapping = deployed.stream_mapping
    assert mapping["EventSourceArn"] == deployed.stream_arn
    assert mapping["FunctionName"] == deployed.alias_arns["downloader"]
    assert mapping["MaximumRetryAttempts"] == config.stream_max_retries
    assert mapping["BatchSize"] == config.stream_batch_size and mapping["BisectBatchOnFunctionError"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == deployed.stream_failures_arn
    assert mapping["FilterCriteria"] == DOWNLOADER_FILTER_CRITERIA
    # ... and botocore accepts it as CreateEventSourceMapping input (shape and types)
    from botocore.session import get_session
    from botocore.validate import validate_parameters

    model = get_session().get_service_model("lambda").operation_model("CreateEventSourceMapping")
    validate_parameters(mapping, model.input_shape)


def test_destroy_then_deploy_again(account, config: LabConfig, deployed: DeployedResources) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a deployed lab with an object in the bucket
    account.client("s3").put_object(Bucket=config.names.bucket, Key="k", Body=b"1")
    # WHEN it is destroyed
    destroy_local(config)
    # THEN the resources are gone, and a new deploy builds them again
    assert config.names.table not in account.client("dynamodb").list_tables()["TableNames"]
    assert config.names.bucket not in [b["Name"] for b in account.client("s3").list_buckets()["Buckets"]]
    again = deploy_local(config)
    assert again.queue_url.endswith(config.names.queue)


def test_deploy_refuses_the_aws_target(tmp_path: Path) -> None:
    # GIVEN a config for AWS, WHEN deploy_local is asked to use it, THEN it refuses (Pulumi deploys AWS)
    with pytest.raises(DeployError, match="Pulumi"):
        deploy_local(load_config(target="aws", state_dir=tmp_path))
