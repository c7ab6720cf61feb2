"""What each target needs on this machine: the tools, and on aws the credentials; checked before anything
changes, so a missing piece stops a command at its start rather than halfway through a deploy."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabkitError

DEPLOY_TOOLS = ("pulumi", "docker", "aws", "make")  # pulumi: stacks; docker, aws, make: images.mk

_TOOLS: tuple[tuple[str, str, bool, bool, str], ...] = (
    # tool, what it is for, needed on local, needed on aws, how to install
    ("mariadbd", "the Aurora stand-in", True, False, "apt-get install -y mariadb-server"),
    (
        "mariadb-install-db",
        "creates the stand-in's data directories",
        True,
        False,
        "apt-get install -y mariadb-server",
    ),
    ("sysbench", "audit traffic", True, False, "apt-get install -y sysbench"),
    ("docker", "builds the Lambda container images", False, True, "https://docs.docker.com/engine/install/"),
    ("pulumi", "deploys the ECR and lab stacks", False, True, "curl -fsSL https://get.pulumi.com | sh"),
    ("aws", "ECR login for docker push", False, True, "pip install awscli"),
)


class PrerequisitesMissingError(LabkitError):
    """A tool or the AWS credentials an aws command needs are missing; lists every gap with its fix."""

    def __init__(self, command: str, gaps: list[str]) -> None:
        super().__init__(
            f"labkit {command} --target aws cannot start, nothing was changed:\n  " + "\n  ".join(gaps)
        )
        self.gaps = gaps


def check_prerequisites(config: LabConfig) -> list[dict[str, Any]]:
    """One row per tool: found where, and whether the target needs it. ``ready`` is False for a needed gap."""
    from labkit.local.databases import find_binary

    rows = []
    for tool, purpose, local, on_aws, install in _TOOLS:
        try:
            path = find_binary(tool) if tool.startswith("mariadb") else shutil.which(tool)
        except LabkitError:
            path = None
        needed = local if config.target == "local" else on_aws
        rows.append(
            {
                "tool": tool,
                "for": purpose,
                "found": path or "-",
                "local needs it": local,
                "aws needs it": on_aws,
                "ready": bool(path) or not needed,
                "install": "" if path else install,
            }
        )
    rows.append(_credentials_row(config))
    return rows


def _credentials_row(config: LabConfig) -> dict[str, Any]:
    """Only on aws is the credential chain consulted: the local target never touches an AWS account."""
    row = {
        "tool": "AWS credentials",
        "for": "every API call on the aws target",
        "local needs it": False,
        "aws needs it": True,
        "install": "aws configure, aws sso login, or AWS_PROFILE",
    }
    if config.target != "aws":
        return {**row, "found": "not checked (local target)", "ready": True, "install": ""}
    found = aws.session(config).get_credentials() is not None
    return {
        **row,
        "found": "yes" if found else "-",
        "ready": found,
        "install": "" if found else row["install"],
    }


def require_aws(config: LabConfig, command: str, tools: Iterable[str] = ()) -> None:
    """Raise PrerequisitesMissingError unless ``tools`` are on PATH and boto3 finds credentials.

    ``make`` and a reachable Docker daemon are checked too, since images.mk would otherwise stop only after
    the ECR stack was deployed.
    """
    if config.target != "aws":
        return
    wanted = list(tools)
    rows = {row["tool"]: row for row in check_prerequisites(config)}
    gaps = []
    for tool in wanted:
        if tool in rows:
            if not rows[tool]["ready"]:
                gaps.append(f"{tool} not found ({rows[tool]['for']}): install it: {rows[tool]['install']}")
        elif shutil.which(tool) is None:
            gaps.append(f"{tool} not found: apt-get install -y {tool}")
    if "docker" in wanted and shutil.which("docker") and not _docker_daemon_up():
        gaps.append("docker is installed but its daemon does not answer: start it (systemctl start docker)")
    credentials = rows["AWS credentials"]
    if not credentials["ready"]:
        gaps.append(f"no AWS credentials in boto3's chain: {credentials['install']}")
    if gaps:
        raise PrerequisitesMissingError(command, gaps)


def _docker_daemon_up() -> bool:
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:  # a daemon that does not answer in a minute will not build either
        return False
    return done.returncode == 0
