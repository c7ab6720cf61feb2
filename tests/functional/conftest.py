"""Fixtures shared by the functional tests: the pipeline cores wired to one emulated account."""

from __future__ import annotations

import pytest

from tests.functional.test_pipeline_core import Pipeline
from tests.support.emulated import EmulatedAccount


@pytest.fixture(name="pipeline")
def pipeline_fixture(account: EmulatedAccount) -> Pipeline:
    return Pipeline(account)
