"""Deploy the lab to AWS with Pulumi's Automation API: the ECR and lab stacks, in order, with progress.

pulumi is imported only inside these functions: the local lab and the Lambda images never need it. The
Automation API drives the Pulumi CLI, so the CLI is checked for first and its absence reported with the
install step. Order matters: the lab stack reads the ECR stack's outputs (and its images), so ``up`` runs
ECR then lab, ``destroy`` lab then ECR. Between the two on a first deploy, the images must be pushed
(``make build-and-push-versioned VERSION=v1.0.0``); ``up`` says so instead of failing inside Pulumi.

A self-managed backend (``pulumi login --local``, s3://, gs://, azblob://) encrypts stack secrets with a
passphrase by default. The Automation API runs the CLI with this process's environment and no terminal, so
PULUMI_CONFIG_PASSPHRASE(_FILE) must be set there: it is checked before the first Pulumi command.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from labkit.config import LabConfig, load_config
from labkit.errors import StackError
from labkit.resources import FUNCTION_KEYS

INFRA_DIR = Path(__file__).resolve().parents[2] / "infrastructure"
PULUMI_INSTALL = "curl -fsSL https://get.pulumi.com | sh"

OnOutput = Callable[[str], None]
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
# Backends Pulumi does not host: their default secrets provider is a passphrase.
SELF_MANAGED_BACKENDS = ("file://", "s3://", "gs://", "azblob://")


class PulumiNotFoundError(StackError):
    """The Pulumi CLI, which the Automation API runs, is not installed."""

    def __init__(self) -> None:
        super().__init__(
            f"pulumi CLI not found: install it with `{PULUMI_INSTALL}` (then open a new shell or add "
            "~/.pulumi/bin to PATH) and log in with `pulumi login`, or `pulumi login --local` to keep "
            "state on this machine"
        )


class PassphraseRequiredError(StackError):
    """A self-managed backend needs the stack passphrase, and nothing can prompt for it."""

    def __init__(self, backend: str, stack: str) -> None:
        super().__init__(
            f"pulumi backend {backend} encrypts the secrets of stack {stack} with a passphrase, and neither "
            "the Automation API nor make can prompt for it: export PULUMI_CONFIG_PASSPHRASE=<passphrase> or "
            "PULUMI_CONFIG_PASSPHRASE_FILE=<file holding it> (the same one on every run for this stack), "
            "or use the Pulumi Cloud backend (`pulumi login`)"
        )


def backend_url(env: Mapping[str, str]) -> str | None:
    """The backend the Pulumi CLI would use: PULUMI_BACKEND_URL, else the one it is logged in to."""
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return current if isinstance(current, str) and current else None


def _secrets_provider(work_dir: Path, stack_name: str) -> str | None:
    """The stack file's ``secretsprovider`` (absent: passphrase on a self-managed backend)."""
    try:
        lines = (work_dir / f"Pulumi.{stack_name}.yaml").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("secretsprovider:"):
            return line.partition(":")[2].strip().strip("'\"") or None
    return None


def require_passphrase(env: Mapping[str, str], work_dir: Path, stack_name: str, stack: str) -> None:
    """Raise PassphraseRequiredError when the CLI would have to prompt for the stack's passphrase."""
    backend = backend_url(env)
    if backend is None or not backend.startswith(SELF_MANAGED_BACKENDS):
        return
    if any(env.get(name) for name in PASSPHRASE_VARIABLES):
        return
    if _secrets_provider(work_dir, stack_name) not in (None, "passphrase"):
        return  # awskms://, gcpkms://, ... need credentials, not a passphrase
    raise PassphraseRequiredError(backend, stack)


@dataclass(frozen=True)
class StackSpec:
    key: str
    project: str
    work_dir: Path


ECR = StackSpec("ecr", "aurora-log-backup-lab-ecr", INFRA_DIR / "ecr-stack")
LAB = StackSpec("lab", "aurora-log-backup-lab", INFRA_DIR / "aurora-log-backup-lab-stack")
UP_ORDER: tuple[StackSpec, ...] = (ECR, LAB)
DESTROY_ORDER: tuple[StackSpec, ...] = (LAB, ECR)


def require_pulumi_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise PulumiNotFoundError()
    return path


def load_automation() -> Any:
    """pulumi.automation, once the CLI it needs is known to be there."""
    require_pulumi_cli()
    import pulumi.automation as automation

    return automation


class LabStacks:
    """The two stacks of one Pulumi stack name (``dev`` by default), configured from a LabConfig.

    ``automation`` is the ``pulumi.automation`` module, or a stand-in in tests; ``on_output`` receives
    Pulumi's progress line by line.
    """

    def __init__(
        self,
        stack_name: str = "dev",
        config: LabConfig | None = None,
        *,
        on_output: OnOutput | None = print,
        automation: Any = None,
    ) -> None:
        self.stack_name = stack_name
        self.config = config or load_config(target="aws")
        self.on_output = on_output
        self._automation = automation
        self._stacks: dict[str, Any] = {}

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def automation(self) -> Any:
        if self._automation is None:
            self._automation = load_automation()
        return self._automation

    def _say(self, message: str) -> None:
        if self.on_output is not None:
            self.on_output(message)

    def _run(self, spec: StackSpec, operation: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except self.automation.CommandError as exc:
            detail = str(exc).strip().splitlines()[-15:]
            raise StackError(
                f"pulumi {operation} failed on stack {spec.project}/{self.stack_name} ({spec.work_dir}):\n"
                + "\n".join(detail)
            ) from exc

    def stack(self, spec: StackSpec) -> Any:
        """Select the stack, creating it on first use."""
        if spec.key not in self._stacks:
            # the CLI inherits os.environ (so the passphrase variables reach it); check before it prompts
            require_passphrase(
                os.environ, spec.work_dir, self.stack_name, f"{spec.project}/{self.stack_name}"
            )
            self._stacks[spec.key] = self._run(
                spec,
                "stack select",
                lambda: self.automation.create_or_select_stack(
                    stack_name=self.stack_name, work_dir=str(spec.work_dir)
                ),
            )
        return self._stacks[spec.key]

    @staticmethod
    def _specs(only: Iterable[str] | None, order: tuple[StackSpec, ...]) -> list[StackSpec]:
        wanted = set(only) if only is not None else {s.key for s in order}
        unknown = wanted - {s.key for s in order}
        if unknown:
            raise StackError(f"unknown stack(s) {sorted(unknown)}: expected ecr and/or lab")
        return [s for s in order if s.key in wanted]

    # --- configuration ----------------------------------------------------------------------------------
    def set_config(self, spec: StackSpec, values: Mapping[str, str], *, secret: Iterable[str] = ()) -> None:
        """Set stack config; keys without a namespace get the stack's project (``labProject`` ...)."""
        secret_keys = set(secret)
        config = {
            (key if ":" in key else f"{spec.project}:{key}"): self.automation.ConfigValue(
                value=str(value), secret=key in secret_keys
            )
            for key, value in values.items()
        }
        self._run(spec, "config set", lambda: self.stack(spec).set_all_config(config))

    def configure(self, spec: StackSpec) -> None:
        """What both programs take from labkit's config: the Region and the project name."""
        self.set_config(spec, {"aws:region": self.config.region, "labProject": self.config.project})

    def set_image_tags(self, tags: str | Mapping[str, str]) -> None:
        """Image tag per function in the lab stack (one version for all when ``tags`` is a string)."""
        per_function = {key: tags for key in FUNCTION_KEYS} if isinstance(tags, str) else dict(tags)
        self.set_config(LAB, {f"{key}ImageTag": tag for key, tag in per_function.items()})

    def _require_image_tags(self) -> None:
        configured = self._run(LAB, "config", lambda: self.stack(LAB).get_all_config())
        missing = [k for k in FUNCTION_KEYS if f"{LAB.project}:{k}ImageTag" not in configured]
        if missing:
            raise StackError(
                f"no image tag for {', '.join(missing)} in stack {LAB.project}/{self.stack_name}: push the "
                "images first (`make build-and-push-versioned VERSION=v1.0.0`), or call set_image_tags()"
            )

    # --- operations -------------------------------------------------------------------------------------
    def preview(self, only: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Changes per stack (the lab stack's preview needs the ECR stack deployed)."""
        changes: dict[str, dict[str, int]] = {}
        for spec in self._specs(only, UP_ORDER):
            self.configure(spec)
            self._say(f"==> pulumi preview {spec.project}/{self.stack_name}")
            result = self._run(spec, "preview", partial(self.stack(spec).preview, on_output=self.on_output))
            changes[spec.key] = dict(result.change_summary)
        return changes

    def up(self, only: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Deploy ECR then lab; returns each stack's outputs."""
        outputs: dict[str, dict[str, Any]] = {}
        for spec in self._specs(only, UP_ORDER):
            self.configure(spec)
            if spec is LAB:
                self._require_image_tags()
            self._say(f"==> pulumi up {spec.project}/{self.stack_name}")
            result = self._run(spec, "up", partial(self.stack(spec).up, on_output=self.on_output))
            outputs[spec.key] = _plain(result.outputs)
        return outputs

    def outputs(self, only: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        return {
            spec.key: _plain(self._run(spec, "stack output", self.stack(spec).outputs))
            for spec in self._specs(only, UP_ORDER)
        }

    def refresh(self, only: Iterable[str] | None = None) -> None:
        for spec in self._specs(only, UP_ORDER):
            self._say(f"==> pulumi refresh {spec.project}/{self.stack_name}")
            self._run(spec, "refresh", partial(self.stack(spec).refresh, on_output=self.on_output))

    def destroy(self, only: Iterable[str] | None = None) -> None:
        """Tear down lab then ECR (the lab's functions use the ECR stack's images)."""
        for spec in self._specs(only, DESTROY_ORDER):
            self._say(f"==> pulumi destroy {spec.project}/{self.stack_name}")
            self._run(spec, "destroy", partial(self.stack(spec).destroy, on_output=self.on_output))


def _plain(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Automation's OutputValue objects as plain values."""
    return {key: getattr(value, "value", value) for key, value in outputs.items()}


__all__ = [
    "DESTROY_ORDER",
    "ECR",
    "LAB",
    "PASSPHRASE_VARIABLES",
    "UP_ORDER",
    "LabStacks",
    "PassphraseRequiredError",
    "PulumiNotFoundError",
    "backend_url",
    "require_passphrase",
    "require_pulumi_cli",
]
