"""What ``labkit deploy|destroy|status|alarms`` do on either target, so the CLI stays a thin printer.

The aws target runs the deploy steps (:mod:`labkit.ops.steps`: the ECR stack, ``infrastructure/images.mk``,
the lab stack, clean-up) through labkit.ops.stacks; the local target runs the lab service
(labkit.local.control), whose start deploys the application resources into the emulator. Every aws command
checks its tools and credentials first (:func:`~labkit.ops.prerequisites.require_aws`), so a missing piece
stops it before anything changed, not halfway through a deploy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.ops import backup, steps
from labkit.ops.prerequisites import DEPLOY_TOOLS, require_aws

DEFAULT_STACK = "dev"
DEFAULT_VERSION = "v1.0.0"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _require_passphrases(stack_name: str) -> None:
    """Both stacks' passphrase check (labkit.ops.stacks), before the first pulumi command rather than at the lab's."""
    from labkit.ops.stacks import UP_ORDER, require_passphrase

    for spec in UP_ORDER:
        require_passphrase(os.environ, spec.work_dir, stack_name, f"{spec.project}/{stack_name}")


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
    require_aws(config, "deploy", DEPLOY_TOOLS if build_images else ("pulumi",))
    _require_passphrases(stack_name)
    if build_images:
        steps.check_version(version)
    done = []
    say(f"1/3 ECR stack {stack_name}: one repository per function")
    done.append(StepResult("ecr stack", steps.deploy_ecr_stack(config, stack_name)))
    if build_images:
        say(f"2/3 images {version}: build, push to ECR, pin in the lab stack (infrastructure/images.mk)")
        done.append(StepResult("images", steps.build_and_push_images(config, version, stack_name)))
    else:
        say(f"2/3 images: skipped (--no-images), the lab stack uses {version}")
    say(f"3/3 lab stack {stack_name}: Aurora, bucket, table, queues, functions, alarms")
    done.append(StepResult("lab stack", steps.deploy_lab_stack(config, stack_name, image_version=version)))
    return done


def _local_up(config: LabConfig, say: Say) -> StepResult:
    from labkit.local import control

    say("local lab: emulator, Aurora stand-in (MariaDB), application resources, Lambda runtime")
    state, started = control.up(config)
    step = StepResult(f"local lab {'started' if started else 'already running'} at {state.endpoint}")
    try:
        step.rows = steps.deployed_resources(config)
    except ClientError as exc:
        raise LabkitError(
            f"the local lab runs but its resources are missing ({exc}): the service's deploy failed, see "
            f"{state.log_file}; then `labkit destroy --target local --yes` and deploy again"
        ) from exc
    return step


def destroy(config: LabConfig, *, stack_name: str = DEFAULT_STACK, say: Say = _quiet) -> list[StepResult]:
    """aws: ``pulumi destroy`` of the lab stack, then the ECR stack. local: the lab service down."""
    if config.target == "aws":
        require_aws(config, "destroy", ("pulumi",))
        _require_passphrases(stack_name)
        say(f"pulumi destroy: lab stack {stack_name}, then ECR stack {stack_name}")
    else:
        say("local lab down: the service, the emulator and both MariaDB instances")
    return [StepResult("destroy", steps.cleanup(config, stack_name))]


# --- status --------------------------------------------------------------------------------------------
def status(config: LabConfig, *, stack_name: str = DEFAULT_STACK) -> dict[str, Any]:
    """What is deployed (stack outputs or the local service, the resources), the backup state summary and
    each instance's kept audit history in scan periods (``history``; an instance at risk is also a note)."""
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
        info["resources"] = steps.deployed_resources(config)
        info["deployed"] = True
    except ClientError as exc:
        info.update(deployed=False, resources=[])
        notes.append(f"application resources not (fully) deployed: {exc}")
    try:
        info["backup"] = backup.summary(config)
        info["history"] = backup.history(config)
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
    from labkit.ops.stacks import LabStacks

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


# --- alarms --------------------------------------------------------------------------------------------
def alarm_states(config: LabConfig, *, lag_threshold_s: float) -> tuple[list[Any], list[str]]:
    """Every alarm rule's state: CloudWatch's on aws, evaluated against the local lab on local."""
    from labkit.alarms import alarm_rules

    require_aws(config, "alarms")  # before the rules: their names need the account (an STS call)
    rules = alarm_rules(config, lag_threshold_s=lag_threshold_s)
    if config.target == "aws":
        from labkit.alarms import read_cloudwatch

        return read_cloudwatch(config, rules)
    from labkit.alarms import evaluate, read_local

    readings = read_local(config)
    return evaluate(rules, readings), readings.notes
