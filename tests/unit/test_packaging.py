"""The project's install paths agree: pyproject (pip, make) and environment.yml (conda)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.update(extra)
    return requirements


def test_environment_yml_has_exactly_the_pyproject_dependencies() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
    assert {r for r in pip_section if r != "-e ."} == pyproject_requirements()


def test_lambda_runtime_needs_only_boto3_and_powertools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {r.split(">")[0].split("=")[0].split("[")[0] for r in project["dependencies"]}
    assert names == {"boto3", "aws-lambda-powertools"}


def test_moto_is_pinned_exactly() -> None:
    assert any(r.startswith("moto[server]==") for r in pyproject_requirements())
