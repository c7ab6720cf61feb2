"""Workbook steps around the pipeline: prerequisites, the ECR stack, images, the lab stack, clean-up.

On ``aws`` these drive Pulumi (:mod:`labkit.stacks`) and ``infrastructure/images.mk``; on ``local`` the
same steps bring the local lab up and show what the emulator holds, so a workshop without an AWS account
sees the same resources the stacks would create.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.workbook.common import progress, workbook_config

ROOT = Path(__file__).resolve().parents[2]
IMAGES_MK = ROOT / "infrastructure" / "images.mk"
FUNCTION_KEYS = ("scanner", "detector", "downloader")


class ImageBuildError(LabkitError):
    """Building or pushing the Lambda images failed (make -f infrastructure/images.mk)."""


# -- 00 prerequisites -----------------------------------------------------------------------------------------
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


def check_prerequisites(target: str = "local") -> pd.DataFrame:
    """One row per tool: found where, and whether ``target`` needs it. ``ready`` is False for a needed gap."""
    config = workbook_config(target)
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
    return pd.DataFrame(rows)


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


# -- 10 ECR stack ---------------------------------------------------------------------------------------------
def deploy_ecr_stack(target: str = "local", stack_name: str = "dev") -> pd.DataFrame:
    """The ECR repositories, one per function: ``pulumi up`` of the ECR stack, or the emulator's on local."""
    config = workbook_config(target)
    if config.target == "aws":
        with _stacks(config, stack_name, "ECR stack") as stacks:
            outputs = stacks.up(only=["ecr"])["ecr"]
        urls = outputs.get("repositoryUrls", {})
        return pd.DataFrame([{"function": key, "repository": url} for key, url in sorted(urls.items())])
    ensure_local_lab(config)
    return ecr_repositories(config)


def ecr_repositories(config: LabConfig) -> pd.DataFrame:
    """Each function's repository with its settings and the tags it holds."""
    ecr = aws.client("ecr", config)
    rows = []
    for key, name in _function_names(config).items():
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        images = ecr.describe_images(repositoryName=name)["imageDetails"]
        rows.append(
            {
                "function": key,
                "repository": repo["repositoryUri"],
                "tag mutability": repo.get("imageTagMutability"),
                "scan on push": repo.get("imageScanningConfiguration", {}).get("scanOnPush"),
                "image tags": ", ".join(
                    sorted(tag for image in images for tag in image.get("imageTags", []))
                ),
            }
        )
    return pd.DataFrame(rows)


# -- 20 images ------------------------------------------------------------------------------------------------
def build_and_push_images(
    target: str = "local", version: str = "v1.0.0", stack_name: str = "dev"
) -> pd.DataFrame:
    """Build, push and pin the images of ``version``.

    aws: runs ``make -f infrastructure/images.mk build-and-push-versioned``. local: lists the commands that
    would run (``make -n``) and records the tag in each of the emulator's ECR repositories, as a push would.
    """
    config = workbook_config(target)
    if config.target == "aws":
        return _run_images_make(version, stack_name)
    ensure_local_lab(config)
    commands = planned_image_commands(version, stack_name)
    ecr = aws.client("ecr", config)
    pushed = {}
    for key, name in _function_names(config).items():
        pushed[key] = record_local_image(ecr, name, version)
    frame = pd.DataFrame(commands)
    frame["recorded in the emulator's ECR"] = [
        pushed.get(row["function"], "") if row["step"] == "push" else "" for row in commands
    ]
    return frame


def planned_image_commands(version: str, stack_name: str = "dev") -> list[dict[str, str]]:
    """The real commands of ``make build-and-push-versioned``, from ``make -n`` (nothing is executed)."""
    if shutil.which("make") is None:
        raise ImageBuildError("make not found: apt-get install -y make")
    dry = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "-f",
            str(IMAGES_MK),
            "build-and-push-versioned",
            f"VERSION={version}",
            f"IMG_STACK={stack_name}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if dry.returncode != 0:
        raise ImageBuildError(
            f"make -n build-and-push-versioned VERSION={version} failed:\n{dry.stderr.strip()}"
        )
    commands = []
    for command in _joined_lines(dry.stdout):
        step = _image_step(command)
        if step:
            named = step in ("build", "push") or command.startswith("pulumi config set")
            function = next((key for key in FUNCTION_KEYS if named and key in command), "all")
            commands.append({"step": step, "function": function, "command": command})
    return commands


def _joined_lines(text: str) -> list[str]:
    """make -n prints a multi-line recipe line with trailing backslashes: join them."""
    lines, current = [], ""
    for raw in text.splitlines():
        current += raw.rstrip("\\").strip() + " "
        if not raw.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def _image_step(command: str) -> str:
    """What a line of the dry run does; guards (tool checks) and recursive makes are left out."""
    if command.startswith("docker build"):
        return "build"
    if "docker push" in command:
        return "push"
    if "docker login" in command:
        return "ecr login"
    if command.startswith("pulumi stack select") or command.startswith("pulumi config set"):
        return "pin in stack"
    return ""


def record_local_image(ecr: Any, repository: str, version: str) -> str:
    """Put an image manifest tagged ``version`` into the emulator's repository (tags are immutable)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        },
        "layers": [],
        "annotations": {"org.opencontainers.image.version": version},  # a distinct digest per version
    }
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):  # the same tag, the same image
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=version)
    uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    return f"{uri}:{version}"


def _run_images_make(version: str, stack_name: str) -> pd.DataFrame:
    command = [
        "make",
        "--no-print-directory",
        "-f",
        str(IMAGES_MK),
        "build-and-push-versioned",
        f"VERSION={version}",
        f"IMG_STACK={stack_name}",
    ]
    lines: list[str] = []
    steps = len(planned_image_commands(version, stack_name))
    with progress(steps, f"images {version}") as bar:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if _image_step(line.strip()) or line.startswith("images.mk: pushing"):
                bar.update(1)
                bar.set_postfix_str(line.strip()[:60])
        status = process.wait()
    if status != 0:
        raise ImageBuildError(f"{' '.join(command)} failed (exit {status}):\n" + "\n".join(lines[-20:]))
    return pd.DataFrame({"output": lines[-15:]})


# -- 30 lab stack ---------------------------------------------------------------------------------------------
def deploy_lab_stack(target: str = "local", stack_name: str = "dev", image_version: str = "") -> pd.DataFrame:
    """The lab: Aurora cluster, bucket, table, queues, the three functions with their ``live`` alias.

    aws: ``pulumi up`` of the lab stack (pinning ``image_version`` first when given). local: the lab service
    (emulator, MariaDB writer and reader, the pipeline) and what it deployed.
    """
    config = workbook_config(target)
    if config.target == "aws":
        with _stacks(config, stack_name, "lab stack") as stacks:
            if image_version:
                stacks.set_image_tags(image_version)
            outputs = stacks.up(only=["lab"])["lab"]
        return pd.DataFrame([{"output": key, "value": value} for key, value in sorted(outputs.items())])
    ensure_local_lab(config)
    return deployed_resources(config)


def deployed_resources(config: LabConfig) -> pd.DataFrame:
    """What the lab runs, read back from the (emulated) AWS APIs, one row per resource."""
    names = config.names
    rds, lam = aws.client("rds", config), aws.client("lambda", config)
    rows: list[dict[str, Any]] = []
    for inst in rds.describe_db_instances()["DBInstances"]:
        rows.append(
            {
                "service": "RDS",
                "resource": inst["DBInstanceIdentifier"],
                "detail": f"{inst['Engine']} in {inst.get('DBClusterIdentifier', '-')}, port {inst.get('Endpoint', {}).get('Port', '-')}",
            }
        )
    rows.append(
        {"service": "S3", "resource": names.bucket, "detail": "audit log parts, gzip, SSE-KMS, versioned"}
    )
    rows.append(
        {
            "service": "DynamoDB",
            "resource": names.table,
            "detail": "one item per audit file; stream -> downloader",
        }
    )
    for queue in (names.queue, names.dlq, names.stream_failures):
        rows.append(
            {
                "service": "SQS",
                "resource": queue,
                "detail": "dead letters" if queue != names.queue else "one message per DB instance",
            }
        )
    rows.append({"service": "EventBridge", "resource": names.schedule_rule, "detail": config.scan_schedule})
    for key, name in _function_names(config).items():
        alias = lam.get_alias(FunctionName=name, Name=names.alias)
        rows.append(
            {
                "service": "Lambda",
                "resource": name,
                "detail": f"{key}: alias {names.alias} -> version {alias['FunctionVersion']}",
            }
        )
    return pd.DataFrame(rows)


# -- 90 clean-up ----------------------------------------------------------------------------------------------
def cleanup(target: str = "local", stack_name: str = "dev") -> pd.DataFrame:
    """Tear it all down: ``pulumi destroy`` (lab, then ECR) on aws; stop the local lab's processes on local."""
    config = workbook_config(target)
    if config.target == "aws":
        with _stacks(config, stack_name, "destroy") as stacks:
            stacks.destroy()
        return pd.DataFrame([{"stack": "lab", "state": "destroyed"}, {"stack": "ecr", "state": "destroyed"}])
    from labkit.local import control
    from labkit.local.state import read_state

    state = read_state(config)
    stopped = control.down(config)
    processes: list[tuple[str, int | None]] = [("local lab", None)]
    if state is not None:
        processes = [("lab service", state.pid), *((i.id, i.pid) for i in state.instances)]
    return pd.DataFrame(
        [
            {"process": name, "pid": pid, "state": "stopped" if stopped else "was not running"}
            for name, pid in processes
        ]
    )


# -- helpers --------------------------------------------------------------------------------------------------
def ensure_local_lab(config: LabConfig) -> Any:
    """Start the local lab unless it runs; a bar while it comes up (seconds: databases, emulator, deploy)."""
    from labkit.local import control

    with progress(1, "local lab") as bar:
        state, started = control.up(config)
        bar.set_postfix_str(("started" if started else "already running") + f" at {state.endpoint}")
        bar.update(1)
    return state


def _function_names(config: LabConfig) -> dict[str, str]:
    names = config.names
    return {"scanner": names.scanner, "detector": names.detector, "downloader": names.downloader}


@contextmanager
def _stacks(config: LabConfig, stack_name: str, what: str) -> Iterator[Any]:
    """The stacks wrapper, with Pulumi's output counted on a progress bar that is closed afterwards."""
    from labkit.stacks import LabStacks

    with progress(None, f"pulumi: {what}", unit="line") as bar:

        def on_output(line: str) -> None:
            bar.update(1)
            if line.strip():
                bar.set_postfix_str(line.strip()[:60])

        yield LabStacks(stack_name, config, on_output=on_output)
