"""Athena over the archive, as the lab stack declares it under Pulumi mocks (nothing reaches AWS).

The projection is checked against labkit.backup.layout with keys the pipeline's own code builds (the
detector's tracking item, PartKey as the downloader calls it), so a layout change that would hide backups
from Athena fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_harness import ACCOUNT, REGION, ProgramRun, stack_config

from labkit.backup import layout
from labkit.backup.detector import _new_item
from labkit.backup.scanner import InstanceMessage
from labkit.query.queries import QUERIES
from labkit.query.schema import COLUMNS, LINE_PATTERN, PARTITION_COLUMNS, TABLE_NAME

TABLE = "aws:glue/catalogTable:CatalogTable"
WORKGROUP = "aws:athena/workgroup:Workgroup"
NAMED = "aws:athena/namedQuery:NamedQuery"
KEY = "aws:kms/key:Key"


@pytest.fixture(scope="module")
def athena(lab_modules: None) -> Iterator[Any]:
    import athena as module

    yield module


def table(run: ProgramRun) -> dict[str, Any]:
    return run.one(TABLE, "audit-events")


def real_part_key(cluster: str, instance: str, when: datetime, file_name: str) -> tuple[str, str]:
    """(key, date) of part 1 of a file the detector recorded at ``when``, keyed as the downloader keys it."""
    message = InstanceMessage(
        instance_id=instance, cluster_id=cluster, engine="aurora-mysql", scheme="aurora"
    )
    listed = {"LogFileName": file_name, "Size": 10, "LastWritten": int(when.timestamp() * 1000)}
    item = _new_item(message, listed, False, when.timestamp(), None)
    prefix = stack_config().log_prefix
    key = layout.PartKey(prefix, item["cluster_id"], item["pk"], item["date"], item["sk"]).key(1)
    return key, item["date"]


# --- the table -------------------------------------------------------------------------------------------


def test_table_reads_the_backup_prefix_with_the_schemas_pattern_and_columns(lab_run: ProgramRun) -> None:
    config = stack_config()
    declared = table(lab_run)
    assert declared["name"] == TABLE_NAME
    assert declared["databaseName"] == config.glue_database
    assert lab_run.one("aws:glue/catalogDatabase:CatalogDatabase", "audit-database")["name"] == (
        config.glue_database
    )
    assert declared["tableType"] == "EXTERNAL_TABLE"
    storage = declared["storageDescriptor"]
    assert storage["location"] == f"s3://{config.names.bucket}/{config.log_prefix}/"
    assert storage["serDeInfo"]["serializationLibrary"] == "org.apache.hadoop.hive.serde2.RegexSerDe"
    assert storage["serDeInfo"]["parameters"] == {"input.regex": LINE_PATTERN}
    assert storage["inputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"  # .gz by extension
    assert [(c["name"], c["type"]) for c in storage["columns"]] == [(c.name, c.athena_type) for c in COLUMNS]
    assert [k["name"] for k in declared["partitionKeys"]] == list(PARTITION_COLUMNS)


def test_partitions_are_projected_never_crawled_or_registered(lab_run: ProgramRun) -> None:
    config = stack_config()
    params = table(lab_run)["parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.date.type"] == "date"
    assert params["projection.date.format"] == "yyyy-MM-dd"
    assert params["projection.date.range"] == f"{config.query_projection_start},NOW"
    assert (params["projection.date.interval"], params["projection.date.interval.unit"]) == ("1", "DAYS")
    assert params["projection.instance.type"] == "injected"  # every query names its instances
    assert params["projection.cluster.type"] == "enum"
    assert params["projection.cluster.values"] == config.cluster_id
    assert params["storage.location.template"] == (
        f"s3://{config.names.bucket}/{config.log_prefix}/cluster=${{cluster}}/instance=${{instance}}"
        "/date=${date}/"
    )
    for typ in ("aws:glue/crawler:Crawler", "aws:glue/partition:Partition"):
        assert lab_run.of_type(typ) == {}


def test_a_part_the_pipeline_writes_today_lies_where_athena_projects_it(
    lab_run: ProgramRun, athena: Any
) -> None:
    config = stack_config()
    now = datetime.now(UTC)
    key, day = real_part_key(config.cluster_id, config.writer_id, now, "audit/audit.log.0.2026-12-04-08-30.0")
    params = table(lab_run)["parameters"]
    assert day == now.date().isoformat()
    assert (
        athena.layout_problems(
            params, config.names.bucket, key, config.cluster_id, config.writer_id, now.date()
        )
        == []
    )


_IDENTIFIER = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,40}", fullmatch=True)
_FILES = st.sampled_from(["audit/audit.log.0.2026-01-04-08-30.0", "audit/audit.log.3.2027-02-28-23-59.12"])


@settings(max_examples=40, deadline=None)
@given(
    instance=_IDENTIFIER,
    days_ago=st.integers(min_value=0, max_value=700),
    seconds=st.integers(min_value=0, max_value=86_399),
    file_name=_FILES,
)
def test_every_part_of_every_instance_and_day_in_range_is_where_athena_reads(
    lab_run: ProgramRun, athena: Any, instance: str, days_ago: int, seconds: int, file_name: str
) -> None:
    config = stack_config()
    start = date.fromisoformat(config.query_projection_start)
    day = max(start, datetime.now(UTC).date() - timedelta(days=days_ago))
    when = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)
    key, _ = real_part_key(config.cluster_id, instance, when, file_name)
    problems = athena.layout_problems(
        table(lab_run)["parameters"], config.names.bucket, key, config.cluster_id, instance, day
    )
    assert problems == []


def test_the_check_fails_when_the_layout_moves_and_the_derived_projection_follows(
    lab_run: ProgramRun, athena: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the deployed projection WHEN the layout swaps instance and cluster THEN a new part is not where
    the deployed table looks, and a projection derived again from the changed layout finds it."""
    config = stack_config()
    deployed = table(lab_run)["parameters"]

    def swapped(self: layout.PartKey) -> str:
        return (
            f"{self.prefix}/instance={self.instance_id}/cluster={layout.safe_segment(self.cluster_id)}"
            f"/date={self.date}/{layout.safe_segment(self.file_id)}.part-"
        )

    monkeypatch.setattr(layout.PartKey, "file_prefix", property(swapped))
    now = datetime.now(UTC)
    key, _ = real_part_key(config.cluster_id, config.writer_id, now, "audit/audit.log.1.2026-12-04-09-00.0")
    args = (config.names.bucket, key, config.cluster_id, config.writer_id, now.date())
    assert athena.layout_problems(deployed, *args)  # divergence caught
    assert athena.layout_problems(athena.projection_parameters(config, config.names.bucket), *args) == []


def test_the_check_fails_when_parts_are_dated_another_way(
    lab_run: ProgramRun, athena: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A date written as 20261204 (or any format but Athena's) lands in a partition Athena never projects."""
    config = stack_config()
    now = datetime.now(UTC)
    key, _ = real_part_key(config.cluster_id, config.writer_id, now, "audit/audit.log.2.2026-12-04-10-00.0")
    compact = key.replace(f"/date={now.date().isoformat()}/", f"/date={now.strftime('%Y%m%d')}/")
    problems = athena.layout_problems(
        table(lab_run)["parameters"],
        config.names.bucket,
        compact,
        config.cluster_id,
        config.writer_id,
        now.date(),
    )
    assert problems and "Athena would read" in problems[0]


def test_a_cluster_outside_the_projected_ones_and_a_day_before_the_range_are_reported(
    lab_run: ProgramRun, athena: Any
) -> None:
    config = stack_config()
    start = date.fromisoformat(config.query_projection_start)
    when = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1)
    key, _ = real_part_key("other-cluster", config.writer_id, when, "audit/audit.log.0.2026-12-04-08-30.0")
    problems = athena.layout_problems(
        table(lab_run)["parameters"], config.names.bucket, key, "other-cluster", config.writer_id, when.date()
    )
    assert any("outside the projected range" in p for p in problems)
    assert any("not among the projected clusters" in p for p in problems)


def test_the_projected_clusters_are_the_listed_ones(athena: Any) -> None:
    config = stack_config(query_clusters="prod-a,none")
    params = athena.projection_parameters(config, "b")
    assert params["projection.cluster.values"] == "prod-a,none"  # "none": instances outside a cluster


# --- workgroup and results --------------------------------------------------------------------------------


def test_workgroup_enforces_encrypted_results_in_its_own_bucket_and_a_scan_cutoff(
    lab_run: ProgramRun,
) -> None:
    config = stack_config()
    workgroup = lab_run.one(WORKGROUP, "audit-workgroup")
    assert workgroup["name"] == config.athena_workgroup
    settings_ = workgroup["configuration"]
    assert settings_["enforceWorkgroupConfiguration"] is True
    assert settings_["bytesScannedCutoffPerQuery"] == config.query_bytes_scanned_cutoff
    assert settings_["publishCloudwatchMetricsEnabled"] is True
    results = settings_["resultConfiguration"]
    assert results["outputLocation"] == f"s3://{config.athena_results_bucket}/results/"
    assert config.athena_results_bucket != config.names.bucket
    results_key = lab_run.state[(KEY, "query-results-key")]["arn"]
    assert results_key != lab_run.state[(KEY, "backup-key")]["arn"]
    assert results["encryptionConfiguration"] == {"encryptionOption": "SSE_KMS", "kmsKeyArn": results_key}
    assert results["expectedBucketOwner"] == ACCOUNT


def test_results_bucket_is_private_encrypted_tls_only_and_expires_results(lab_run: ProgramRun) -> None:
    config = stack_config()
    bucket = config.athena_results_bucket
    assert lab_run.one("aws:s3/bucket:Bucket", "query-results")["bucket"] == bucket
    bpa = lab_run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "query-results-public-access")
    assert all(
        bpa[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = lab_run.one(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "query-results-ownership"
    )
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sse = lab_run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "query-results-encryption",
    )
    (rule,) = sse["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": lab_run.state[(KEY, "query-results-key")]["arn"],
    }
    assert lab_run.one(KEY, "query-results-key")["enableKeyRotation"] is True
    (deny,) = json.loads(lab_run.one("aws:s3/bucketPolicy:BucketPolicy", "query-results-tls-only")["policy"])[
        "Statement"
    ]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(deny["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    (expiry,) = lab_run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "query-results-lifecycle"
    )["rules"]
    assert expiry["expiration"]["days"] == config.query_results_days
    assert expiry["filter"]["prefix"] == "results/"


# --- named queries ----------------------------------------------------------------------------------------


def test_every_saved_query_is_a_named_query_in_the_workgroup(lab_run: ProgramRun) -> None:
    config = stack_config()
    named = {q["name"]: q for q in lab_run.of_type(NAMED).values()}
    assert set(named) == set(QUERIES)
    for name, query in QUERIES.items():
        sql, order = query.render_named()
        assert named[name]["query"] == sql
        assert named[name]["database"] == config.glue_database
        assert named[name]["workgroup"] == config.athena_workgroup
        assert f"in order: {', '.join(order)}." in named[name]["description"]


def test_every_named_query_names_its_instance_as_the_injected_projection_requires(
    lab_run: ProgramRun,
) -> None:
    """Athena refuses a query on an injected partition without a static equality on it (CONSTRAINT_VIOLATION)
    and a date predicate keeps it from listing every day since the projection's start."""
    for query in lab_run.of_type(NAMED).values():
        assert '"instance" = ?' in query["query"], query["name"]
        assert '"date" BETWEEN' in query["query"], query["name"]


# --- outputs ----------------------------------------------------------------------------------------------


def test_outputs_name_what_labkit_query_needs_and_agree_with_labkit_config(lab_run: ProgramRun) -> None:
    config = stack_config()
    outputs = lab_run.outputs
    assert outputs["athenaWorkgroup"] == config.athena_workgroup
    assert outputs["glueDatabase"] == config.glue_database
    assert outputs["auditTable"] == TABLE_NAME
    assert outputs["athenaResultsLocation"] == f"s3://{config.athena_results_bucket}/results/"
    assert outputs["auditorRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{config.project}-auditor"
    assert set(outputs["namedQueryIds"]) == set(QUERIES)
    assert REGION in config.athena_results_bucket


@settings(max_examples=40, deadline=None)
@given(project=st.from_regex(r"[a-z][a-z0-9._-]{0,40}", fullmatch=True))
def test_labkit_query_looks_for_the_names_the_stack_creates(project: str) -> None:
    """`labkit query --target aws` (labkit.query.schema.athena_names) and the stack (LabConfig) agree."""
    from labkit.query.schema import athena_names

    config = stack_config(project=project)
    names = athena_names(config)
    assert (names.database, names.table, names.workgroup) == (
        config.glue_database,
        TABLE_NAME,
        config.athena_workgroup,
    )
