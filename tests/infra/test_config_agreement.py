"""The stack and labkit.config agree: the local target and AWS are built from the same names and settings."""

from __future__ import annotations

import json

import pulumi_harness
import pytest
from pulumi_harness import (
    ACCOUNT,
    ECR_DIR,
    ECR_PROJECT,
    LAB_DIR,
    LAB_PROJECT,
    REGION,
    ProgramRun,
    ecr_outputs,
    lab_config,
    run_program,
    stack_config,
)

from labkit.config import load_config
from labkit.errors import ConfigError


def test_resource_names_are_labkits(lab_run: ProgramRun) -> None:
    names = stack_config().names
    declared = {
        "bucket": lab_run.one("aws:s3/bucket:Bucket", "backups")["bucket"],
        "table": lab_run.one("aws:dynamodb/table:Table", "log-files")["name"],
        "queue": lab_run.one("aws:sqs/queue:Queue", "instances")["name"],
        "dlq": lab_run.one("aws:sqs/queue:Queue", "instances-dlq")["name"],
        "stream_failures": lab_run.one("aws:sqs/queue:Queue", "stream-failures")["name"],
        "schedule_rule": lab_run.one("aws:cloudwatch/eventRule:EventRule", "scan-schedule")["name"],
        "scanner": lab_run.one("aws:lambda/function:Function", "scanner")["name"],
        "detector": lab_run.one("aws:lambda/function:Function", "detector")["name"],
        "downloader": lab_run.one("aws:lambda/function:Function", "downloader")["name"],
        "alias": lab_run.one("aws:lambda/alias:Alias", "scanner-live")["name"],
    }
    assert declared == {field: getattr(names, field) for field in declared}


def test_pipeline_settings_are_labkits(lab_run: ProgramRun) -> None:
    config = stack_config()
    table = lab_run.one("aws:dynamodb/table:Table", "log-files")
    queue = lab_run.one("aws:sqs/queue:Queue", "instances")
    functions = lab_run.of_type("aws:lambda/function:Function")
    assert table["streamViewType"] == config.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert lab_run.one("aws:cloudwatch/eventRule:EventRule", "scan-schedule")["scheduleExpression"] == (
        config.scan_schedule
    )
    assert lab_run.one("aws:lambda/eventSourceMapping:EventSourceMapping", "detector-from-queue")[
        "batchSize"
    ] == (config.sqs_batch_size)
    stream = lab_run.one("aws:lambda/eventSourceMapping:EventSourceMapping", "downloader-from-stream")
    assert stream["batchSize"] == config.stream_batch_size
    assert stream["maximumRetryAttempts"] == config.stream_max_retries
    assert stream["parallelizationFactor"] == config.stream_parallelization_factor
    assert queue["visibilityTimeoutSeconds"] == config.sqs_visibility_timeout_s
    assert (
        queue["visibilityTimeoutSeconds"] >= 6 * functions["detector"]["timeout"]
    )  # AWS's rule for SQS sources
    assert json.loads(queue["redrivePolicy"])["maxReceiveCount"] == config.max_receive_count
    assert {k: f["timeout"] for k, f in functions.items()} == {
        "scanner": config.scanner_timeout_s,
        "detector": config.detector_timeout_s,
        "downloader": config.downloader_timeout_s,
    }
    assert functions["downloader"]["memorySize"] == config.downloader_memory_mb


def test_the_stream_mapping_runs_the_configured_batches_per_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stack configured for 5 concurrent batches per shard and 3 files copied at once
    monkeypatch.setenv("LABKIT_STREAM_PARALLELIZATION_FACTOR", "5")
    monkeypatch.setenv("LABKIT_DOWNLOADER_COPY_CONCURRENCY", "3")
    # WHEN the program runs under Pulumi's mocks (_run: run_program would drop the LABKIT_* variables)
    run = pulumi_harness._run(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs(), None)
    # THEN the mapping asks Lambda for 5 batches per shard, and the downloader is told its copy concurrency
    stream = run.one("aws:lambda/eventSourceMapping:EventSourceMapping", "downloader-from-stream")
    assert stream["parallelizationFactor"] == 5
    env = run.one("aws:lambda/function:Function", "downloader")["environment"]["variables"]
    assert env["LABKIT_DOWNLOADER_COPY_CONCURRENCY"] == "3"


def test_retention_settings_are_labkits(lab_run: ProgramRun) -> None:
    config = stack_config()
    table = lab_run.one("aws:dynamodb/table:Table", "log-files")
    assert table["ttl"]["enabled"] is True  # tracking items expire after tracking_ttl_days (set by labkit)
    lifecycle = lab_run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "backups-lifecycle"
    )
    assert lifecycle["rules"][0]["filter"]["prefix"] == f"{config.log_prefix}/"
    env = lab_run.one("aws:lambda/function:Function", "downloader")["environment"]["variables"]
    assert env["LABKIT_TRACKING_TTL_DAYS"] == str(config.tracking_ttl_days)


def test_handlers_load_the_same_config_from_their_environment(lab_run: ProgramRun, lab_modules: None) -> None:
    """load_config() inside a Lambda sees LABKIT_* variables: it must rebuild the stack's config."""
    from settings import pipeline_fields

    expected = stack_config()
    assert {
        "engines",
        "opt_out_tag",
        "log_prefix",
        "tracking_ttl_days",
        "stream_view_type",
        "rds_log_api_version",  # the REST complete download's path version and timeouts reach the Lambdas
        "complete_connect_timeout_s",
        "complete_read_timeout_s",
    } <= set(pipeline_fields())
    for key, function in lab_run.of_type("aws:lambda/function:Function").items():
        in_lambda = load_config(env=function["environment"]["variables"])
        assert (in_lambda.target, in_lambda.region, in_lambda.project) == (
            "aws",
            REGION,
            expected.project,
        )
        assert in_lambda.names == expected.names, key
        for name in pipeline_fields():
            assert getattr(in_lambda, name) == getattr(expected, name), (key, name)


def test_the_scanner_is_told_its_queue_url(lab_run: ProgramRun) -> None:
    env = lab_run.one("aws:lambda/function:Function", "scanner")["environment"]["variables"]
    assert env["LABKIT_QUEUE_URL"] == lab_run.state[("aws:sqs/queue:Queue", "instances")]["url"]


def test_a_project_override_renames_everything_consistently() -> None:
    project = "workshop-team-7"
    names = stack_config(project=project).names
    ecr = run_program(ECR_DIR, ECR_PROJECT, {f"{ECR_PROJECT}:labProject": project})
    lab = run_program(LAB_DIR, LAB_PROJECT, lab_config(labProject=project), ecr.outputs)
    assert {r["name"] for r in ecr.of_type("aws:ecr/repository:Repository").values()} == set(names.functions)
    assert lab.one("aws:s3/bucket:Bucket", "backups")["bucket"] == names.bucket
    assert lab.one("aws:rds/cluster:Cluster", "aurora")["clusterIdentifier"] == f"{project}-cluster"
    env = lab.one("aws:lambda/function:Function", "scanner")["environment"]["variables"]
    assert env["LABKIT_PROJECT"] == project
    assert ecr_outputs(project)["repositoryUrls"] == ecr.outputs["repositoryUrls"]


def test_stack_settings_follow_labkit_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """LABKIT_* in the deploying shell reach the stack the same way they reach the local target."""
    from pulumi_harness import _run

    monkeypatch.setenv("LABKIT_SQS_BATCH_SIZE", "5")
    monkeypatch.setenv("LABKIT_DETECTOR_TIMEOUT_S", "120")
    monkeypatch.setenv("LABKIT_SEAL_AFTER_S", "600")
    monkeypatch.setenv("LABKIT_RDS_LOG_API_VERSION", "v19")
    run = _run(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs())
    for key in ("detector", "downloader"):  # both may call DownloadCompleteDBLogFile
        env = run.one("aws:lambda/function:Function", key)["environment"]["variables"]
        assert load_config(env=env).rds_log_api_version == "v19"
    env = run.one("aws:lambda/function:Function", "downloader")["environment"]["variables"]
    assert load_config(env=env).seal_after_s == 600
    assert (
        run.one("aws:lambda/eventSourceMapping:EventSourceMapping", "detector-from-queue")["batchSize"] == 5
    )
    assert run.one("aws:sqs/queue:Queue", "instances")["visibilityTimeoutSeconds"] == 720


def test_the_bucket_is_named_for_the_account_and_region_and_the_lambdas_are_told(lab_run: ProgramRun) -> None:
    """S3 names are global: a second account or Region deploying the same project gets its own bucket."""
    bucket = lab_run.one("aws:s3/bucket:Bucket", "backups")["bucket"]
    assert bucket == f"{LAB_PROJECT}-backups-{ACCOUNT}-{REGION}"
    for key, function in lab_run.of_type("aws:lambda/function:Function").items():
        env = function["environment"]["variables"]
        assert (env["LABKIT_BUCKET"], env["LABKIT_ACCOUNT_ID"]) == (bucket, ACCOUNT), key
        assert load_config(env=env).names.bucket == bucket, key
    assert lab_run.outputs["bucketName"] == bucket


def test_the_bucket_name_can_be_given_in_stack_config() -> None:
    run = run_program(LAB_DIR, LAB_PROJECT, lab_config(backupBucket="my-org-audit-backups"), ecr_outputs())
    assert run.one("aws:s3/bucket:Bucket", "backups")["bucket"] == "my-org-audit-backups"
    env = run.one("aws:lambda/function:Function", "downloader")["environment"]["variables"]
    assert load_config(env=env).names.bucket == "my-org-audit-backups"
    policy = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy", "backups-tls-only")["policy"])
    assert "arn:aws:s3:::my-org-audit-backups" in policy["Statement"][0]["Resource"]


def test_the_bucket_name_follows_labkit_bucket_in_the_deploying_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pulumi_harness import _run

    monkeypatch.setenv("LABKIT_BUCKET", "shell-chosen-backups")
    run = _run(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs())
    assert run.one("aws:s3/bucket:Bucket", "backups")["bucket"] == "shell-chosen-backups"


def test_a_bucket_name_s3_would_refuse_fails_before_deploying() -> None:
    with pytest.raises(ConfigError, match="S3 refuses this name"):
        run_program(LAB_DIR, LAB_PROJECT, lab_config(backupBucket="Not_A_Bucket"), ecr_outputs())


def test_the_scanner_finds_the_tracking_table_from_its_environment(lab_run: ProgramRun) -> None:
    """It reads the live-files index to queue instances that still have live tracked files."""
    env = lab_run.one("aws:lambda/function:Function", "scanner")["environment"]["variables"]
    table = lab_run.one("aws:dynamodb/table:Table", "log-files")
    assert load_config(env=env).names.table == table["name"]
    assert "live-files" in {index["name"] for index in table["globalSecondaryIndexes"]}


def test_the_scanners_environment_loads_to_a_config_naming_its_queue(lab_run: ProgramRun) -> None:
    env = lab_run.one("aws:lambda/function:Function", "scanner")["environment"]["variables"]
    assert load_config(env=env).queue_url == lab_run.state[("aws:sqs/queue:Queue", "instances")]["url"]
