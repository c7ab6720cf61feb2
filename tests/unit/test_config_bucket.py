"""The backup bucket's name: unique per account and Region (S3 names are global), or an override.

GIVEN a project, an account and a Region WHEN the names are derived THEN the bucket name is one S3 accepts
(3-63 characters, DNS-safe, none of S3's reserved prefixes and suffixes) and it names that account and
Region, so two deployments of the same project in two accounts or Regions never ask for the same bucket.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.config import LOCAL_ACCOUNT_ID, LabConfig, backup_bucket_name, load_config
from labkit.errors import ConfigError

# S3's general purpose bucket naming rules, written out independently of labkit's check.
S3_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")  # no dots: TLS virtual-host addressing
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")

accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
regions = st.sampled_from(
    [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        "us-gov-west-1",
        "ap-northeast-3",
        "il-central-1",
        "mx-central-1",
    ]
)
projects = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-_.", min_size=1, max_size=120
).filter(lambda p: any(c.isalnum() for c in p))


def s3_accepts(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    return (
        bool(S3_NAME.fullmatch(name))
        and not name.startswith(RESERVED_PREFIXES)
        and not name.endswith(RESERVED_SUFFIXES)
    )


def test_the_default_name_carries_account_and_region() -> None:
    config = load_config(env={}, target="aws", account_id="210987654321", region="eu-west-1")
    assert config.names.bucket == "aurora-log-backup-lab-backups-210987654321-eu-west-1"


def test_the_local_target_uses_the_emulators_account_and_the_configured_region() -> None:
    config = load_config(env={}, region="eu-central-1")
    assert LOCAL_ACCOUNT_ID == "123456789012"  # moto's default account, which the emulator serves
    assert config.names.bucket == "aurora-log-backup-lab-backups-123456789012-eu-central-1"


def test_an_override_wins_on_both_targets_argument_and_environment() -> None:
    assert load_config(env={"LABKIT_BUCKET": "my-audit-backups"}).names.bucket == "my-audit-backups"
    aws = load_config(env={"LABKIT_BUCKET": "from-env"}, target="aws", bucket="from-arg")
    assert aws.names.bucket == "from-arg"  # no account needed when the name is given


@pytest.mark.parametrize(
    "bad",
    [
        "ab",
        "UPPER-case",
        "has_underscore",
        "-starts-with-hyphen",
        "x" * 64,
        "192.168.1.2",
        "xn--abc",
        "a-s3alias",
    ],
)
def test_an_override_s3_would_refuse_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(ConfigError, match="bucket"):
        load_config(env={}, bucket=bad)


def test_a_malformed_account_is_refused() -> None:
    with pytest.raises(ConfigError, match="12 digits"):
        load_config(env={"LABKIT_ACCOUNT_ID": "12345"}, target="aws")


@settings(max_examples=40, deadline=None)
@given(project=projects, account=accounts, region=regions)
def test_every_derived_name_is_one_s3_accepts_and_names_account_and_region(
    project: str, account: str, region: str
) -> None:
    name = backup_bucket_name(project, account, region)
    assert s3_accepts(name), name
    assert name.endswith(f"-backups-{account}-{region}")


@settings(max_examples=30, deadline=None)
@given(a=projects, b=projects, account=accounts, region=regions)
def test_two_projects_never_share_a_bucket(a: str, b: str, account: str, region: str) -> None:
    if a != b:
        assert backup_bucket_name(a, account, region) != backup_bucket_name(b, account, region)


def test_a_long_project_is_shortened_not_cut_into_an_invalid_or_shared_name() -> None:
    long_a, long_b = "workshop-" + "x" * 60 + "-a", "workshop-" + "x" * 60 + "-b"
    name_a = backup_bucket_name(long_a, "123456789012", "ap-southeast-2")
    assert len(name_a) <= 63 and s3_accepts(name_a)
    assert name_a != backup_bucket_name(long_b, "123456789012", "ap-southeast-2")
    assert name_a.startswith("workshop-")


def test_a_short_lowercase_project_keeps_its_name_unchanged() -> None:
    assert (
        backup_bucket_name("team-7", "123456789012", "us-east-1") == "team-7-backups-123456789012-us-east-1"
    )


def test_aws_target_without_account_asks_the_callers_account_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str | None, str]] = []

    def caller(endpoint_url: str | None, region: str) -> str:
        calls.append((endpoint_url, region))
        return "555566667777"

    monkeypatch.setattr("labkit.aws.caller_account", caller)
    config = LabConfig(target="aws", region="eu-west-1", endpoint_url="http://127.0.0.1:1")
    assert config.names.bucket == "aurora-log-backup-lab-backups-555566667777-eu-west-1"
    assert calls == [("http://127.0.0.1:1", "eu-west-1")]


def test_aws_target_whose_account_cannot_be_found_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = LabConfig(target="aws", region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"LABKIT_ACCOUNT_ID.*LABKIT_BUCKET"):
        config.names  # noqa: B018


@pytest.mark.parametrize("project", ["xn--team", "sthree-lab", "amzn-s3-demo-lab", "192.168.1.1"])
def test_a_project_named_like_a_reserved_prefix_still_gets_a_valid_bucket(project: str) -> None:
    name = backup_bucket_name(project, "123456789012", "eu-west-1")
    assert s3_accepts(name), name
    assert name != backup_bucket_name(project + "x", "123456789012", "eu-west-1")


@pytest.mark.parametrize("project", ["AmZn.s3.DEmo", "sthree", "STHREE", "amzn-s3-demo"])
def test_a_project_that_cleans_up_to_a_reserved_prefix_still_gets_a_valid_name(project: str) -> None:
    # Hypothesis found 'AmZn.s3.DEmo': cleaned to "amzn-s3-demo", then "-<hash>" made it S3's reserved prefix
    name = backup_bucket_name(project, "123456789012", "us-east-1")
    assert s3_accepts(name) and name.startswith("lab-"), name
