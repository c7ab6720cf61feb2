"""Fixtures shared by the functional tests: the pipeline cores wired to one emulated account."""

from __future__ import annotations

import pytest

from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import Pipeline


@pytest.fixture(name="pipeline")
def pipeline_fixture(account: EmulatedAccount) -> Pipeline:
    return Pipeline(account)
