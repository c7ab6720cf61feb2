"""What every command group shares: the consoles, the ``--target`` option and the config it selects.

A command with ``--target`` takes it as the most explicit setting (argument > LABKIT_TARGET > local, as
LabConfig decides everywhere); a command without it uses the config from the environment alone.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from labkit.config import LabConfig, load_config

console = Console()
err = Console(stderr=True)

LabTargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="aws (the Pulumi stacks in your AWS account) or local (the lab service on this machine). "
        "Default: LABKIT_TARGET, else local.",
        show_default=False,
    ),
]


def target_config(target: str | None) -> LabConfig:
    """The config for ``--target``: argument > LABKIT_TARGET > default, like every other setting."""
    return load_config(target=target)


def current_config() -> LabConfig:
    """The config for a command without ``--target``: LABKIT_* variables, else the defaults."""
    return load_config()
