"""The Aurora engine version is pinned and the cluster parameter group's family follows it (issue 18 item 4).

A family fixed at aurora-mysql8.0 beside ``engine_version=None`` (the Region's default) breaks
CreateDBCluster the day that default moves to Aurora MySQL 8.4; a version and family that disagree fail the
same way. Asserted on what the lab stack declares under mocks, and on the derivation itself.
"""

from __future__ import annotations

import sys

import pytest
from pulumi_harness import LAB_DIR, LAB_PROJECT, ProgramRun, ecr_outputs, lab_config, run_program

CLUSTER = ("aws:rds/cluster:Cluster", "aurora")
PARAMETER_GROUP = ("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aurora-audit")
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


def run(**config: str) -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(**config), ecr_outputs())


def declared(stack: ProgramRun) -> tuple[str, str]:
    return stack.one(*CLUSTER)["engineVersion"], stack.one(*PARAMETER_GROUP)["family"]


def test_the_default_is_a_pinned_aurora_mysql_3_lts_version_with_its_family(lab_run: ProgramRun) -> None:
    version, family = declared(lab_run)
    assert version == "8.0.mysql_aurora.3.10.1"  # never None: the Region's default may move to 8.4
    assert family == "aurora-mysql8.0"
    for instance in lab_run.of_type(INSTANCE).values():
        assert instance["engineVersion"] == version


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("8.0.mysql_aurora.3.08.2", "aurora-mysql8.0"),
        ("8.0.mysql_aurora.3.04.4", "aurora-mysql8.0"),
        ("8.4.7", "aurora-mysql8.4"),
    ],
)
def test_the_parameter_group_family_follows_the_configured_engine_version(version: str, family: str) -> None:
    # GIVEN auroraEngineVersion set  THEN cluster, instances and parameter group agree on it
    stack = run(auroraEngineVersion=version)
    assert declared(stack) == (version, family)
    for instance in stack.of_type(INSTANCE).values():
        assert instance["engineVersion"] == version


@pytest.mark.parametrize(
    "version",
    ["5.7.mysql_aurora.2.11.2", "8.0.36", "latest", "8.0.mysql_aurora.3", "9.0.1", ""],
)
def test_an_engine_version_of_unknown_form_fails_before_deploying_and_says_which_forms_work(
    version: str,
) -> None:
    with pytest.raises(ValueError, match=r"auroraEngineVersion .*8\.0\.mysql_aurora\.3\.\w+\.\w+.*8\.4\.\w+"):
        run(auroraEngineVersion=version)


def test_the_derivation_itself(lab_modules: None) -> None:
    sys.modules.pop("settings", None)
    import settings

    assert settings.parameter_group_family("8.0.mysql_aurora.3.10.1") == "aurora-mysql8.0"
    assert settings.parameter_group_family("8.4.8") == "aurora-mysql8.4"
    with pytest.raises(ValueError, match="auroraEngineVersion"):
        settings.parameter_group_family("8.4")
