"""A stand-in for ``pulumi.automation`` (its CLI cannot run here: no binary, no provider plugins, no AWS) that
records the calls LabStacks makes; shared by the stacks wrapper and passphrase tests, and its error and config
value by the aws-target doubles (tests/functional/aws_doubles.py)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any


class FakeCommandError(Exception):
    pass


@dataclass
class FakeConfigValue:
    value: str
    secret: bool = False


class FakeStack:
    def __init__(self, automation: FakeAutomation, name: str, work_dir: str) -> None:
        self.automation, self.name, self.work_dir = automation, name, work_dir
        self.project = (
            "aurora-log-backup-lab-ecr" if work_dir.endswith("ecr-stack") else "aurora-log-backup-lab"
        )
        self.config: dict[str, FakeConfigValue] = {}

    def _log(self, operation: str) -> None:
        self.automation.calls.append((operation, self.project))
        if (operation, self.project) in self.automation.failures:
            raise FakeCommandError(f"error: {operation} exploded\nresource x failed")

    def set_all_config(self, config: dict[str, FakeConfigValue]) -> None:
        self._log("set_all_config")
        self.config.update(config)

    def get_all_config(self) -> dict[str, FakeConfigValue]:
        return dict(self.config)

    def preview(self, on_output: Any = None) -> Any:
        self._log("preview")
        on_output(f"previewing {self.project}")
        return SimpleNamespace(change_summary={"create": 3})

    def up(self, on_output: Any = None) -> Any:
        self._log("up")
        on_output(f"updating {self.project}")
        return SimpleNamespace(
            outputs={"labProject": SimpleNamespace(value="aurora-log-backup-lab", secret=False)}
        )

    def outputs(self) -> dict[str, Any]:
        self._log("outputs")
        return {"bucketName": SimpleNamespace(value="aurora-log-backup-lab-backups", secret=False)}

    def refresh(self, on_output: Any = None) -> Any:
        self._log("refresh")
        return SimpleNamespace()

    def destroy(self, on_output: Any = None) -> Any:
        self._log("destroy")
        on_output(f"destroying {self.project}")
        return SimpleNamespace()


class FakeAutomation:
    CommandError = FakeCommandError
    ConfigValue = FakeConfigValue

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failures: set[tuple[str, str]] = set()
        self.stacks: dict[str, FakeStack] = {}

    def create_or_select_stack(self, stack_name: str, work_dir: str) -> FakeStack:
        stack = FakeStack(self, stack_name, work_dir)
        self.calls.append(("select", stack.project))
        self.stacks[stack.project] = stack
        return stack
