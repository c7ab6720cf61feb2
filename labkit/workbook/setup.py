"""Workbook steps around the pipeline: prerequisites, the ECR stack, images, the lab stack, clean-up.

The steps themselves are :mod:`labkit.ops` (shared with the CLI); here they take a target name, show a
progress bar while they run, and answer as tables.
"""

from __future__ import annotations

import pandas as pd

from labkit.dashboard.tables import Table, table
from labkit.ops import steps
from labkit.ops.prerequisites import check_prerequisites as _prerequisites
from labkit.ops.steps import ImageBuildError, planned_image_commands
from labkit.workbook.common import progress, workbook_config

__all__ = [
    "ImageBuildError",
    "build_and_push_images",
    "check_prerequisites",
    "cleanup",
    "deploy_ecr_stack",
    "deploy_lab_stack",
    "planned_image_commands",
]


def check_prerequisites(target: str = "local") -> Table:
    """One row per tool: found where, and whether ``target`` needs it. ``ready`` is False for a needed gap."""
    config = workbook_config(target)
    rows = pd.DataFrame(_prerequisites(config))
    ready = int(rows["ready"].sum()) if "ready" in rows else 0
    return table(rows, title=f"{ready} of {len(rows)} ready for the {config.target} target")


def deploy_ecr_stack(target: str = "local", stack_name: str = "dev") -> Table:
    """The ECR repositories, one per function: ``pulumi up`` of the ECR stack, or the emulator's on local."""
    return table(pd.DataFrame(steps.deploy_ecr_stack(workbook_config(target), stack_name, progress)))


def build_and_push_images(target: str = "local", version: str = "v1.0.0", stack_name: str = "dev") -> Table:
    """Build, push and pin the images of ``version`` (aws: images.mk; local: the planned commands, and the
    tag recorded in the emulator's ECR as a push would)."""
    return table(
        pd.DataFrame(steps.build_and_push_images(workbook_config(target), version, stack_name, progress))
    )


def deploy_lab_stack(target: str = "local", stack_name: str = "dev", image_version: str = "") -> Table:
    """The lab: Aurora cluster, bucket, table, queues, the three functions with their ``live`` alias."""
    return table(
        pd.DataFrame(steps.deploy_lab_stack(workbook_config(target), stack_name, image_version, progress))
    )


def cleanup(target: str = "local", stack_name: str = "dev") -> Table:
    """Tear it all down: ``pulumi destroy`` (lab, then ECR) on aws; stop the local lab's processes on local."""
    return table(pd.DataFrame(steps.cleanup(workbook_config(target), stack_name, progress)))
