"""Fixtures for the infrastructure tests; the Pulumi mock harness itself is in pulumi_harness.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from pulumi_harness import (
    ECR_DIR,
    ECR_PROJECT,
    LAB_DIR,
    LAB_PROJECT,
    REGION,
    ProgramRun,
    ecr_outputs,
    lab_config,
    run_program,
)


@pytest.fixture(scope="session")
def ecr_run() -> ProgramRun:
    return run_program(ECR_DIR, ECR_PROJECT, {"aws:region": REGION, f"{ECR_PROJECT}:keepImages": "7"})


@pytest.fixture(scope="session")
def lab_run() -> ProgramRun:
    return run_program(LAB_DIR, LAB_PROJECT, lab_config(), ecr_outputs())


@pytest.fixture(scope="session")
def lab_modules() -> Iterator[None]:
    """The lab stack's pure helpers (policy builders, user data) importable by name."""
    sys.path.insert(0, str(LAB_DIR))
    yield
    sys.path.remove(str(LAB_DIR))


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated resources (BucketV2 ...) when its modules load; not ours.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws")
