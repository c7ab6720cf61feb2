"""``make -f infrastructure/images.mk`` run for real, with docker, pulumi and aws stand-ins that log their argv;
shared by the images Makefile and passphrase tests."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from pulumi_harness import REPO

IMAGES_MK = "infrastructure/images.mk"


REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", IMAGES_MK, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true", **(env or {})},
    )


def fake_tools(tmp_path: Path, *, docker_daemon: bool = True, credentials: bool = True) -> dict[str, str]:
    """docker, pulumi and aws stand-ins that append their argv to calls.log."""
    log = tmp_path / "calls.log"
    answers = {
        "docker": "" if docker_daemon else '[ "$1" = info ] && exit 1',
        "pulumi": (
            '[ "$1 $2" = "stack output" ] && { eval "last=\\${$#}"; '
            f'echo "{REGISTRY}/aurora-log-backup-lab-${{last%RepositoryUrl}}"; }}'
        ),
        "aws": ('[ "$1" = sts ] && exit 255' if not credentials else "")
        + '\n[ "$1 $2" = "ecr get-login-password" ] && echo token',
    }
    tools = {}
    for name, body in answers.items():
        path = tmp_path / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\nexit 0\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        tools[f"IMG_{name.upper()}"] = str(path)
    return tools
