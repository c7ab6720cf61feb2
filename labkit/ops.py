"""What ``labkit deploy|destroy|status|alarms`` do on either target, so the CLI stays a thin printer.

Nothing here deploys by itself: the aws target runs the workbook's steps (labkit.workbook: the ECR stack,
``infrastructure/images.mk``, the lab stack, clean-up) and labkit.stacks; the local target runs the lab
service (labkit.local.control), whose start deploys the application resources into the emulator. Every
aws command checks its tools and credentials first (:func:`require_aws`), so a missing piece stops it
before anything changed, not halfway through a deploy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.config import LabConfig
from labkit.errors import LabkitError

DEFAULT_STACK = "dev"
DEFAULT_VERSION = "v1.0.0"
DEPLOY_TOOLS = ("pulumi", "docker", "aws", "make")  # pulumi: stacks; docker, aws, make: images.mk

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class PrerequisitesMissingError(LabkitError):
    """A tool or the AWS credentials an aws command needs are missing; lists every gap with its fix."""

    def __init__(self, command: str, gaps: list[str]) -> None:
        super().__init__(
            f"labkit {command} --target aws cannot start, nothing was changed:\n  " + "\n  ".join(gaps)
        )
        self.gaps = gaps


# --- prerequisites -------------------------------------------------------------------------------------
def require_aws(config: LabConfig, command: str, tools: Iterable[str] = ()) -> None:
    """Raise PrerequisitesMissingError unless ``tools`` are on PATH and boto3 finds credentials.

    The install steps are the workbook's (``check_prerequisites``); ``make`` and a reachable Docker daemon
    are checked here too, since images.mk would otherwise stop only after the ECR stack was deployed.
    """
    if config.target != "aws":
        return
    from labkit.workbook.setup import check_prerequisites

    wanted = list(tools)
    rows = check_prerequisites(config.target).set_index("tool")
    gaps = []
    for tool in wanted:
        if tool in rows.index:
            if not rows.loc[tool, "ready"]:
                gaps.append(
                    f"{tool} not found ({rows.loc[tool, 'for']}): install it: {rows.loc[tool, 'install']}"
                )
        elif shutil.which(tool) is None:
            gaps.append(f"{tool} not found: apt-get install -y {tool}")
    if "docker" in wanted and shutil.which("docker") and not _docker_daemon_up():
        gaps.append("docker is installed but its daemon does not answer: start it (systemctl start docker)")
    credentials = rows.loc["AWS credentials"]
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


def _require_passphrases(stack_name: str) -> None:
    """Both stacks' passphrase check (labkit.stacks), before the first pulumi command rather than at the lab's."""
    from labkit.stacks import UP_ORDER, require_passphrase

    for spec in UP_ORDER:
        require_passphrase(os.environ, spec.work_dir, stack_name, f"{spec.project}/{stack_name}")


def _check_version(version: str) -> None:
    """images.mk's own VERSION guard, run before the ECR stack rather than after it (ECR tags are immutable)."""
    from labkit.workbook.setup import IMAGES_MK, ROOT, ImageBuildError

    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-f",
            str(IMAGES_MK),
            "img-check-version",
            f"VERSION={version}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if not line.startswith("make:")]
        raise ImageBuildError(f"{' '.join(said).strip()} (labkit deploy --version vMAJOR.MINOR.PATCH)")


# --- deploy / destroy ----------------------------------------------------------------------------------
@dataclass
class StepResult:
    """One step of a deploy or destroy, with the rows the workbook shows for it."""

    step: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def deploy(
    config: LabConfig,
    *,
    stack_name: str = DEFAULT_STACK,
    version: str = DEFAULT_VERSION,
    build_images: bool = True,
    say: Say = _quiet,
) -> list[StepResult]:
    """aws: ECR stack, images, lab stack, in that order. local: the lab service up (it deploys)."""
    if config.target == "local":
        return [_local_up(config, say)]
    from labkit.workbook import build_and_push_images, deploy_ecr_stack, deploy_lab_stack

    require_aws(config, "deploy", DEPLOY_TOOLS if build_images else ("pulumi",))
    _require_passphrases(stack_name)
    if build_images:
        _check_version(version)
    steps = []
    say(f"1/3 ECR stack {stack_name}: one repository per function")
    steps.append(StepResult("ecr stack", records(deploy_ecr_stack(config.target, stack_name))))
    if build_images:
        say(f"2/3 images {version}: build, push to ECR, pin in the lab stack (infrastructure/images.mk)")
        steps.append(StepResult("images", records(build_and_push_images(config.target, version, stack_name))))
    else:
        say(f"2/3 images: skipped (--no-images), the lab stack uses {version}")
    say(f"3/3 lab stack {stack_name}: Aurora, bucket, table, queues, functions, alarms")
    lab = deploy_lab_stack(config.target, stack_name, image_version=version)
    steps.append(StepResult("lab stack", records(lab)))
    return steps


def _local_up(config: LabConfig, say: Say) -> StepResult:
    from labkit.local import control
    from labkit.workbook.setup import deployed_resources

    say("local lab: emulator, Aurora stand-in (MariaDB), application resources, Lambda runtime")
    state, started = control.up(config)
    step = StepResult(f"local lab {'started' if started else 'already running'} at {state.endpoint}")
    try:
        step.rows = records(deployed_resources(config))
    except ClientError as exc:
        raise LabkitError(
            f"the local lab runs but its resources are missing ({exc}): the service's deploy failed, see "
            f"{state.log_file}; then `labkit destroy --target local --yes` and deploy again"
        ) from exc
    return step


def destroy(config: LabConfig, *, stack_name: str = DEFAULT_STACK, say: Say = _quiet) -> list[StepResult]:
    """aws: ``pulumi destroy`` of the lab stack, then the ECR stack. local: the lab service down."""
    from labkit.workbook import cleanup

    if config.target == "aws":
        require_aws(config, "destroy", ("pulumi",))
        _require_passphrases(stack_name)
        say(f"pulumi destroy: lab stack {stack_name}, then ECR stack {stack_name}")
    else:
        say("local lab down: the service, the emulator and both MariaDB instances")
    return [StepResult("destroy", records(cleanup(config.target, stack_name)))]


# --- status --------------------------------------------------------------------------------------------
def status(config: LabConfig, *, stack_name: str = DEFAULT_STACK) -> dict[str, Any]:
    """What is deployed (stack outputs or the local service, the resources), the backup state summary and
    each instance's kept audit history in scan periods (``history``; an instance at risk is also a note)."""
    from labkit.workbook import backup_parts, history_cover, inspect_backup_state, summarize_backup_state
    from labkit.workbook.setup import deployed_resources

    info: dict[str, Any] = {"target": config.target, "project": config.project, "notes": []}
    notes: list[str] = info["notes"]
    if config.target == "aws":
        require_aws(config, "status")
        info["stacks"] = _stack_outputs(config, stack_name, notes)
    else:
        from labkit.local import control

        info["local"] = local = control.status(config)
        if not local["running"]:
            info.update(deployed=False, resources=[], backup=None)
            notes.append("the local lab is not running: `labkit deploy --target local` starts it")
            return info
    try:
        info["resources"] = records(deployed_resources(config))
        info["deployed"] = True
    except ClientError as exc:
        info.update(deployed=False, resources=[])
        notes.append(f"application resources not (fully) deployed: {exc}")
    try:
        state, parts = inspect_backup_state(config.target), backup_parts(config.target)
        info["backup"] = summarize_backup_state(state, parts)
        info["history"] = records(history_cover(config.target))
    except (LabkitError, ClientError) as exc:
        info["backup"] = None
        notes.append(f"backup state unreadable: {exc}")
    for row in info.get("history") or []:
        if row["verdict"] == "at risk":
            notes.append(
                f"{row['instance_id']} keeps {row['history_s']} s of audit history, "
                f"{row['covered_scans']} scan periods: files can come and go unseen; change {row['change']}"
            )
    return info


def _stack_outputs(config: LabConfig, stack_name: str, notes: list[str]) -> dict[str, Any] | None:
    from labkit.errors import StackError
    from labkit.stacks import LabStacks

    if shutil.which("pulumi") is None:
        notes.append(
            "pulumi not found: stack outputs not shown (install: curl -fsSL https://get.pulumi.com | sh)"
        )
        return None
    try:
        return LabStacks(stack_name, config, on_output=None).outputs()
    except StackError as exc:
        notes.append(str(exc))
        return None


def records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


# --- alarms --------------------------------------------------------------------------------------------
def alarm_states(config: LabConfig, *, lag_threshold_s: float) -> tuple[list[Any], list[str]]:
    """Every alarm rule's state: CloudWatch's on aws, evaluated against the local lab on local."""
    from labkit.alarms import alarm_rules

    require_aws(config, "alarms")  # before the rules: their names need the account (an STS call)
    rules = alarm_rules(config, lag_threshold_s=lag_threshold_s)
    if config.target == "aws":
        from labkit.alarms_aws import read_cloudwatch

        return read_cloudwatch(config, rules)
    from labkit.alarms_local import evaluate, read_local

    readings = read_local(config)
    return evaluate(rules, readings), readings.notes
