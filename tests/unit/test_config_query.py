"""The archive-search settings and names in LabConfig: what the Athena stack and `labkit query` share."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.config import ATHENA_MIN_CUTOFF, bucket_name_problem, load_config
from labkit.errors import ConfigError

ACCOUNT = "123456789012"


def test_the_cutoff_below_athenas_minimum_is_refused_with_the_minimum_named() -> None:
    with pytest.raises(ConfigError, match="10 MB"):
        load_config(env={"LABKIT_QUERY_BYTES_SCANNED_CUTOFF": str(ATHENA_MIN_CUTOFF - 1)})
    assert load_config(env={}, query_bytes_scanned_cutoff=ATHENA_MIN_CUTOFF).query_bytes_scanned_cutoff == (
        ATHENA_MIN_CUTOFF
    )


@pytest.mark.parametrize("day", ["2026-13-01", "2026-02-30", "20260101", "2026-1-1", ""])
def test_a_projection_start_that_is_not_a_calendar_day_is_refused(day: str) -> None:
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        load_config(env={}, query_projection_start=day or " ")


def test_results_must_be_kept_at_least_a_day() -> None:
    with pytest.raises(ConfigError, match="query_results_days"):
        load_config(env={"LABKIT_QUERY_RESULTS_DAYS": "0"})


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="abcXYZ019-_. ", min_size=1, max_size=80))
def test_every_project_gives_a_valid_glue_database_workgroup_and_results_bucket(project: str) -> None:
    config = load_config(env={}, target="aws", account_id=ACCOUNT, region="ap-southeast-2", project=project)
    assert re.fullmatch(r"[a-z0-9_]{1,255}", config.glue_database), config.glue_database
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", config.athena_workgroup), config.athena_workgroup
    assert bucket_name_problem(config.athena_results_bucket) is None
    assert config.athena_results_bucket != config.names.bucket  # results never land among the backups


def test_athena_sees_the_labs_cluster_unless_clusters_are_listed() -> None:
    assert load_config(env={}).archive_clusters == (load_config(env={}).cluster_id,)
    listed = load_config(env={"LABKIT_QUERY_CLUSTERS": "prod-a, none,"})
    assert listed.archive_clusters == ("prod-a", "none")  # "none": instances outside any cluster
