"""The real pipeline against a synthetic fleet: the emulator (under a chosen RDS profile), the fleet registered in
it, the application resources, the three handlers driven by the local runtime from their event sources, and
the emulator's deletion events. What ``bench/bench_fleet.py`` and the fleet acceptance test share.

Settings reach the handlers as they reach a Lambda function: ``LABKIT_*`` variables in this process's
environment (the runtime runs the handlers in-process), set at :meth:`FleetPipeline.start` and put back at
:meth:`FleetPipeline.stop`, which also stops everything started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import aws
from labkit.backup import table as t
from labkit.config import LabConfig, load_config
from labkit.errors import LabStartError
from labkit.local.emulator import EmulatorServer
from labkit.local.emulator.rds_budget import BUDGETED_ACTIONS, RdsProfile
from labkit.local.fleet import FleetSpec, SyntheticFleet
from labkit.local.runtime import LambdaRuntime, emulator_environment, start_local_pipeline


def config_fields() -> set[str]:
    """The settings this labkit knows (load_config refuses others): a bench passes newer ones only if known."""
    return {f.name for f in dataclasses.fields(LabConfig)}


@dataclass(frozen=True)
class Progress:
    """The backup's state at one moment, from the fleet's writer and the tracking table."""

    produced: int  # bytes the fleet wrote
    copied: int  # bytes the table counts as in S3
    lost: int  # bytes of LOST files not in S3 (their items' lost_bytes)
    failed_files: int
    lost_files: int

    @property
    def backlog(self) -> int:
        return max(0, self.produced - self.copied - self.lost)


class FleetPipeline:
    """Start with :meth:`start`, stop with :meth:`stop` (a context manager does both)."""

    def __init__(self, spec: FleetSpec, root: Path, settings: dict[str, Any]) -> None:
        unknown = set(settings) - config_fields()
        if unknown:
            raise LabStartError(f"unknown lab setting(s) {sorted(unknown)}: see labkit.config.LabConfig")
        self.spec, self.root, self.settings = spec, Path(root), settings
        self.server: EmulatorServer | None = None
        self.runtime: LambdaRuntime | None = None
        self.fleet: SyntheticFleet | None = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> FleetPipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, tick_s: float = 0.5) -> LabConfig:
        from labkit.handlers import clients

        self._set_env({f"LABKIT_{k.upper()}": _env_value(v) for k, v in self.settings.items()})
        config = load_config(state_dir=self.root / "state")
        self.server = EmulatorServer(0, profile=RdsProfile.from_config(config))
        url = self.server.start()
        self.config = dataclasses.replace(config, endpoint_url=url)
        clients.forget()  # the handlers' cached clients and settings: this lab's
        self.fleet = SyntheticFleet(self.spec, self.root / "fleet")
        self.fleet.register(aws.client("rds", self.config), self.server.app)
        # what start_local_pipeline sets process-wide for the handlers: saved here, put back at stop
        self._set_env({**emulator_environment(self.config, url), "LABKIT_QUEUE_URL": ""})
        self.runtime = start_local_pipeline(self.config, url)
        if self.runtime is None:
            self.stop()
            raise LabStartError("the local pipeline did not start: see the log above")
        if self.config.rds_deletion_events:
            self.server.watch_deletions(self.config)
        self.fleet.start(tick_s)
        return self.config

    def stop(self) -> None:
        from labkit.handlers import clients

        if self.fleet is not None:
            self.fleet.stop()
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        clients.forget()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    # -- what a bench or test reads ----------------------------------------------------------------------------
    @property
    def table(self) -> Any:
        return aws.resource("dynamodb", self.config).Table(self.config.names.table)

    def items(self) -> list[dict[str, Any]]:
        return t.all_items(self.table)

    def progress(self) -> Progress:
        assert self.fleet is not None
        items = self.items()
        return Progress(
            produced=self.fleet.produced,
            copied=sum(int(i.get("copied_bytes", 0)) for i in items),
            lost=sum(int(i.get("lost_bytes", 0)) for i in items if i.get("state") == "LOST"),
            failed_files=sum(1 for i in items if i.get("state") == "FAILED"),
            lost_files=sum(1 for i in items if i.get("state") == "LOST"),
        )

    def rds_calls(self) -> dict[str, Any]:
        """The emulator's RDS counters (GET /labkit-api/rds-calls), with ``charged``: the budgeted actions'
        calls it served (throttled ones left out), counted apart from the bucket's own count."""
        assert self.server is not None
        with urllib.request.urlopen(f"{self.server.url}/labkit-api/rds-calls", timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
        by_action, throttled = answer["by_action"], answer["throttled"]
        answer["charged"] = sum(by_action.get(a, 0) - throttled.get(a, 0) for a in BUDGETED_ACTIONS)
        answer["throttled_total"] = sum(throttled.values())
        return answer


def _env_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


__all__ = ["FleetPipeline", "Progress", "config_fields"]
