"""The workshop pacing is a config profile: explicit argument > LABKIT_* variable > profile > default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.config import PROFILES, LabConfig, load_config, with_profile
from labkit.errors import ConfigError
from labkit.workbook.common import paced, workbook_config

WORKSHOP = PROFILES["workshop"]
DEFAULTS = LabConfig()


def test_the_workshop_profile_paces_the_local_lab() -> None:
    config = load_config(env={}, profile="workshop")
    assert (config.scan_interval_s, config.seal_after_s) == (10.0, 5.0)
    assert (config.scan_interval_s, config.seal_after_s) != (DEFAULTS.scan_interval_s, DEFAULTS.seal_after_s)


def test_an_explicit_argument_and_an_environment_variable_beat_the_profile() -> None:
    config = load_config(
        env={"LABKIT_PROFILE": "workshop", "LABKIT_SEAL_AFTER_S": "120"}, scan_interval_s=30.0
    )
    assert (config.profile, config.scan_interval_s, config.seal_after_s) == ("workshop", 30.0, 120.0)


def test_a_profile_never_paces_the_aws_target() -> None:
    config = load_config(env={}, target="aws", profile="workshop")
    assert (config.scan_interval_s, config.seal_after_s) == (DEFAULTS.scan_interval_s, DEFAULTS.seal_after_s)


def test_an_unknown_profile_is_refused_naming_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match="'workshop'"):
        load_config(env={}, profile="fast")


def test_the_workbook_uses_the_workshop_profile_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LABKIT_PROFILE", "LABKIT_SCAN_INTERVAL_S", "LABKIT_SEAL_AFTER_S"):
        monkeypatch.delenv(name, raising=False)
    config = workbook_config("local")
    assert (config.profile, config.scan_interval_s, config.seal_after_s) == ("workshop", 10.0, 5.0)
    assert workbook_config("aws").profile == ""


@given(
    scan=st.floats(min_value=1.0, max_value=86_400.0, allow_nan=False),
    seal=st.floats(min_value=1.0, max_value=86_400.0, allow_nan=False),
    how=st.sampled_from(["argument", "environment"]),
)
def test_a_setting_the_user_gives_beats_the_workbook_pacing(scan: float, seal: float, how: str) -> None:
    # GIVEN a scan interval and seal delay given as an argument or in the environment (slower or faster than
    # the workshop's: before the profile, the workbook took the smaller of the two and overrode a slower one)
    # WHEN the workbook builds its config
    with pytest.MonkeyPatch.context() as mp:
        for name in ("LABKIT_PROFILE", "LABKIT_SCAN_INTERVAL_S", "LABKIT_SEAL_AFTER_S"):
            mp.delenv(name, raising=False)
        if how == "argument":
            config = workbook_config("local", scan_interval_s=scan, seal_after_s=seal)
        else:
            mp.setenv("LABKIT_SCAN_INTERVAL_S", repr(scan))
            mp.setenv("LABKIT_SEAL_AFTER_S", repr(seal))
            config = workbook_config("local")
    # THEN what the user gave is what runs
    assert (config.scan_interval_s, config.seal_after_s) == (scan, seal)


def test_a_built_config_takes_the_profile_only_where_it_is_at_its_defaults() -> None:
    built = load_config(env={}, scan_interval_s=45.0)  # the CLI's config: no profile, one setting given
    config = with_profile(built, "workshop")
    assert (config.scan_interval_s, config.seal_after_s) == (45.0, WORKSHOP["seal_after_s"])
    assert paced(built) == config
    assert with_profile(config, "workshop") == config  # twice: the same
    assert with_profile(load_config(env={}, target="aws"), "workshop").profile == ""
