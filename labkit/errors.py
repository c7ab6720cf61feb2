"""One exception base for labkit; every error says what failed and what to do."""

from __future__ import annotations


class LabkitError(Exception):
    """Base of every error labkit raises on purpose."""


class ConfigError(LabkitError):
    """A setting is malformed (bad LABKIT_* variable or argument)."""


class MissingBinaryError(LabkitError):
    """A program the local lab needs is not installed."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(
            f"{binary} not found: install it with `apt-get install -y {package}` (or run `make lab`, "
            "which installs what is missing)"
        )
        self.binary = binary
        self.package = package


class PortInUseError(LabkitError):
    """A loopback port the lab was told to use is taken."""


class LabNotRunningError(LabkitError):
    """The local lab service is not up."""


class LabStartError(LabkitError):
    """The local lab service or one of its databases failed to start."""


class TrafficError(LabkitError):
    """Invalid traffic parameters, or sysbench failed."""


class StackError(LabkitError):
    """A Pulumi stack operation failed, or the Pulumi CLI it needs is missing."""


class DeployError(LabkitError):
    """Creating the application resources in the emulator failed."""


class MissingExtraError(LabkitError):
    """An optional dependency is not installed; names the extra that brings it (labkit.extras.require)."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed: it comes with labkit's {extra} extra, "
            f"install it with `pip install 'labkit[{extra}]'`"
        )
        self.module = module
        self.extra = extra
