"""Operating the lab on either target: deploy, destroy, status, scan, alarms, and the prerequisites each
needs. The CLI prints what these return and the workbook shows it as tables; nothing here needs pandas,
duckdb or pulumi until a step on the aws target runs a stack.

- :mod:`labkit.ops.prerequisites`: tools and credentials, checked before anything changes
- :mod:`labkit.ops.steps`: the deploy steps (ECR stack, images, lab stack, resources, clean-up) as rows
- :mod:`labkit.ops.lifecycle`: ``deploy``/``destroy``/``status``/``alarm_states`` over those steps
- :mod:`labkit.ops.scans`: run the DB Scanner now, and wait for the copies
- :mod:`labkit.ops.backup`: the backup's state in figures
- :mod:`labkit.ops.check`: ``labkit check``, each promise proven on a deployed account (bucket checks:
  :mod:`labkit.ops.bucket_checks`)
"""

from labkit.ops.check import CheckResult, CheckTargetError, LockSettings, run_checks
from labkit.ops.lifecycle import (
    DEFAULT_STACK,
    DEFAULT_VERSION,
    StepResult,
    alarm_states,
    deploy,
    destroy,
    status,
)
from labkit.ops.prerequisites import DEPLOY_TOOLS, PrerequisitesMissingError, require_aws
from labkit.ops.scans import ScanFailedError, ScanResult, scan
from labkit.ops.steps import ImageBuildError

__all__ = [
    "DEFAULT_STACK",
    "DEFAULT_VERSION",
    "DEPLOY_TOOLS",
    "CheckResult",
    "CheckTargetError",
    "ImageBuildError",
    "LockSettings",
    "PrerequisitesMissingError",
    "ScanFailedError",
    "ScanResult",
    "StepResult",
    "alarm_states",
    "deploy",
    "destroy",
    "require_aws",
    "run_checks",
    "scan",
    "status",
]
