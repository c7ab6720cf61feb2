"""What the lab's resources are called and which functions it has: one copy, for the stacks, both deploys,
the local runtime and the workbook (names themselves: :class:`labkit.config.ResourceNames`)."""

from __future__ import annotations

FUNCTION_KEYS: tuple[str, str, str] = ("scanner", "detector", "downloader")

__all__ = ["FUNCTION_KEYS"]
