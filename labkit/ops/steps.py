"""The deploy steps on either target, as rows: the ECR stack, the images, the lab stack, what runs, clean-up.

On ``aws`` these drive Pulumi (:mod:`labkit.ops.stacks`) and ``infrastructure/images.mk``; on ``local`` the
same steps bring the local lab up and read back what the emulator holds, so a workshop without an AWS
account sees the resources the stacks would create. No pandas here: the CLI prints these rows, and
:mod:`labkit.workbook` shows them as tables. Long steps report to a progress bar the caller passes in.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from labkit import aws
from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.resources import FUNCTION_KEYS

Rows = list[dict[str, Any]]


class ImageBuildError(LabkitError):
    """Building or pushing the Lambda images failed (make -f infrastructure/images.mk)."""


class Bar(Protocol):
    def update(self, n: float = 1) -> Any: ...
    def set_postfix_str(self, s: str = "") -> Any: ...


# (total or None, description, unit) -> a bar; the workbook passes tqdm's, the CLI none
Bars = Callable[[float | None, str, str], AbstractContextManager[Bar]]


class _NoBar:
    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "") -> None:
        pass


def no_bars(total: float | None, description: str, unit: str = "step") -> AbstractContextManager[Bar]:
    return contextlib.nullcontext(_NoBar())


def repository_root() -> Path:
    """The clone labkit runs from: the aws deploy needs its ``infrastructure/`` (stacks, images.mk)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "infrastructure" / "images.mk").is_file():
        raise ImageBuildError(
            f"no infrastructure/images.mk next to labkit ({root}): the aws deploy runs from a clone of "
            "the repository (git clone, then pip install -e '.[lab]')"
        )
    return root


# -- the ECR stack ------------------------------------------------------------------------------------------
def deploy_ecr_stack(config: LabConfig, stack_name: str = "dev", bars: Bars = no_bars) -> Rows:
    """The ECR repositories, one per function: ``pulumi up`` of the ECR stack, or the emulator's on local."""
    if config.target == "aws":
        with _stacks(config, stack_name, "ECR stack", bars) as stacks:
            outputs = stacks.up(only=["ecr"])["ecr"]
        urls = outputs.get("repositoryUrls", {})
        return [{"function": key, "repository": url} for key, url in sorted(urls.items())]
    ensure_local_lab(config, bars)
    return ecr_repositories(config)


def ecr_repositories(config: LabConfig) -> Rows:
    """Each function's repository with its settings and the tags it holds."""
    ecr = aws.client("ecr", config)
    rows = []
    for key, name in function_names(config).items():
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
    return rows


# -- the images ---------------------------------------------------------------------------------------------
def build_and_push_images(
    config: LabConfig, version: str = "v1.0.0", stack_name: str = "dev", bars: Bars = no_bars
) -> Rows:
    """Build, push and pin the images of ``version``.

    aws: runs ``make -f infrastructure/images.mk build-and-push-versioned``. local: lists the commands that
    would run (``make -n``) and records the tag in each of the emulator's ECR repositories, as a push would.
    """
    if config.target == "aws":
        return _run_images_make(version, stack_name, bars)
    ensure_local_lab(config, bars)
    commands = planned_image_commands(version, stack_name)
    ecr = aws.client("ecr", config)
    pushed = {key: record_local_image(ecr, name, version) for key, name in function_names(config).items()}
    return [
        {
            **row,
            "recorded in the emulator's ECR": pushed.get(row["function"], "")
            if row["step"] == "push"
            else "",
        }
        for row in commands
    ]


def planned_image_commands(version: str, stack_name: str = "dev") -> list[dict[str, str]]:
    """The real commands of ``make build-and-push-versioned``, from ``make -n`` (nothing is executed)."""
    if shutil.which("make") is None:
        raise ImageBuildError("make not found: apt-get install -y make")
    root = repository_root()
    dry = subprocess.run(
        _images_make(root, "-n", "build-and-push-versioned", f"VERSION={version}", f"IMG_STACK={stack_name}"),
        cwd=root,
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


def check_version(version: str) -> None:
    """images.mk's own VERSION guard, run before the ECR stack rather than after it (ECR tags are immutable)."""
    root = repository_root()
    done = subprocess.run(
        _images_make(root, "-s", "img-check-version", f"VERSION={version}"),
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if not line.startswith("make:")]
        raise ImageBuildError(f"{' '.join(said).strip()} (labkit deploy --version vMAJOR.MINOR.PATCH)")


def _images_make(root: Path, *args: str) -> list[str]:
    """``make -f infrastructure/images.mk`` with ``args`` (make takes options anywhere on the line)."""
    return ["make", "--no-print-directory", "-f", str(root / "infrastructure" / "images.mk"), *args]


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


def _run_images_make(version: str, stack_name: str, bars: Bars) -> Rows:
    root = repository_root()
    command = _images_make(root, "build-and-push-versioned", f"VERSION={version}", f"IMG_STACK={stack_name}")
    lines: list[str] = []
    steps = len(planned_image_commands(version, stack_name))
    with bars(steps, f"images {version}", "step") as bar:
        process = subprocess.Popen(
            command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
    return [{"output": line} for line in lines[-15:]]


# -- the lab stack ------------------------------------------------------------------------------------------
def deploy_lab_stack(
    config: LabConfig, stack_name: str = "dev", image_version: str = "", bars: Bars = no_bars
) -> Rows:
    """The lab: Aurora cluster, bucket, table, queues, the three functions with their ``live`` alias.

    aws: ``pulumi up`` of the lab stack (pinning ``image_version`` first when given). local: the lab service
    (emulator, MariaDB writer and reader, the pipeline) and what it deployed.
    """
    if config.target == "aws":
        with _stacks(config, stack_name, "lab stack", bars) as stacks:
            if image_version:
                stacks.set_image_tags(image_version)
            outputs = stacks.up(only=["lab"])["lab"]
        return [{"output": key, "value": value} for key, value in sorted(outputs.items())]
    ensure_local_lab(config, bars)
    return deployed_resources(config)


def deployed_resources(config: LabConfig) -> Rows:
    """What the lab runs, read back from the (emulated) AWS APIs, one row per resource."""
    names = config.names
    rds, lam = aws.client("rds", config), aws.client("lambda", config)
    rows: Rows = []
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
    for key, name in function_names(config).items():
        alias = lam.get_alias(FunctionName=name, Name=names.alias)
        rows.append(
            {
                "service": "Lambda",
                "resource": name,
                "detail": f"{key}: alias {names.alias} -> version {alias['FunctionVersion']}",
            }
        )
    return rows


# -- clean-up -----------------------------------------------------------------------------------------------
def cleanup(config: LabConfig, stack_name: str = "dev", bars: Bars = no_bars) -> Rows:
    """Tear it all down: ``pulumi destroy`` (lab, then ECR) on aws; stop the local lab's processes on local."""
    if config.target == "aws":
        with _stacks(config, stack_name, "destroy", bars) as stacks:
            stacks.destroy()
        return [{"stack": "lab", "state": "destroyed"}, {"stack": "ecr", "state": "destroyed"}]
    from labkit.local import control
    from labkit.local.state import read_state

    state = read_state(config)
    stopped = control.down(config)
    processes: list[tuple[str, int | None]] = [("local lab", None)]
    if state is not None:
        processes = [("lab service", state.pid), *((i.id, i.pid) for i in state.instances)]
    return [
        {"process": name, "pid": pid, "state": "stopped" if stopped else "was not running"}
        for name, pid in processes
    ]


# -- helpers ------------------------------------------------------------------------------------------------
def ensure_local_lab(config: LabConfig, bars: Bars = no_bars) -> Any:
    """Start the local lab unless it runs; a bar while it comes up (seconds: databases, emulator, deploy)."""
    from labkit.local import control

    with bars(1, "local lab", "step") as bar:
        state, started = control.up(config)
        bar.set_postfix_str(("started" if started else "already running") + f" at {state.endpoint}")
        bar.update(1)
    return state


def function_names(config: LabConfig) -> dict[str, str]:
    return dict(zip(FUNCTION_KEYS, config.names.functions, strict=True))


@contextmanager
def _stacks(config: LabConfig, stack_name: str, what: str, bars: Bars) -> Iterator[Any]:
    """The stacks wrapper, with Pulumi's output counted on a progress bar that is closed afterwards."""
    from labkit.ops.stacks import LabStacks

    with bars(None, f"pulumi: {what}", "line") as bar:

        def on_output(line: str) -> None:
            bar.update(1)
            if line.strip():
                bar.set_postfix_str(line.strip()[:60])

        yield LabStacks(stack_name, config, on_output=on_output)
