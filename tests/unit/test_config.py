from __future__ import annotations

from pathlib import Path

import pytest

from labkit.config import LabConfig, load_config
from labkit.errors import ConfigError


def test_default_target_is_local_and_names_derive_from_the_project() -> None:
    config = load_config(env={})
    assert config.target == "local"
    assert config.names.bucket == "aurora-log-backup-lab-backups-123456789012-us-east-1"  # emulator account
    assert config.names.functions == (
        "aurora-log-backup-lab-db-scanner",
        "aurora-log-backup-lab-log-detector",
        "aurora-log-backup-lab-log-downloader",
    )
    assert config.sqs_visibility_timeout_s == 6 * config.detector_timeout_s


def test_argument_beats_environment_beats_default() -> None:
    env = {"LABKIT_REGION": "eu-west-1", "LABKIT_EMULATOR_PORT": "5000", "LABKIT_STATE_DIR": "/tmp/x"}
    config = load_config(env=env, region="ap-south-1")
    assert config.region == "ap-south-1"  # argument
    assert config.emulator_port == 5000  # environment, parsed to int
    assert config.state_dir == Path("/tmp/x")
    assert load_config(env={}).region == LabConfig().region  # default


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LABKIT_TARGET": "gcp"}, "expected one of local, aws"),
        ({"LABKIT_EMULATOR_PORT": "eighty"}, "LABKIT_EMULATOR_PORT='eighty' is not a valid int"),
        ({"LABKIT_NAMING_SCHEME": "oracle"}, "expected one of aurora, rds-mysql"),
        ({"LABKIT_THROTTLE_RATE": "2"}, "between 0 and 1"),
    ],
)
def test_bad_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_unknown_argument_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(env={}, regoin="eu-west-1")


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        load_config(env={}).region = "x"  # type: ignore[misc]


def test_the_rds_budget_defaults_to_ten_a_second_where_a_bucket_exists_and_an_explicit_rate_wins() -> None:
    assert load_config(env={}, target="aws").rds_budget_per_s == 10.0  # of RDS's 12/s: 2/s for others
    assert load_config(env={}, target="local", rds_profile="aws").rds_budget_per_s == 10.0
    assert load_config(env={}, target="local").rds_budget_per_s is None  # the fast emulator has no bucket
    assert load_config(env={"LABKIT_RDS_BUDGET_RPS": "4.5"}, target="aws").rds_budget_per_s == 4.5
    assert load_config(env={"LABKIT_RDS_BUDGET_RPS": "3"}, target="local").rds_budget_per_s == 3.0
    assert load_config(env={}).names.budget == "aurora-log-backup-lab-rds-budget"
    with pytest.raises(ConfigError, match="rds_budget_rps"):
        load_config(env={"LABKIT_RDS_BUDGET_RPS": "-1"})
