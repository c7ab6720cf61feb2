"""Shared fixtures. Tiers: unit (no network), functional (moto's real server over HTTP on loopback,
synthetic audit files), e2e (the real local lab: MariaDB with server_audit, sysbench), infra (Pulumi mocks),
notebooks. Each tier is a folder, and its tests carry the tier's marker (``pytest -m unit``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.local.emulator import EmulatorServer
from tests.support.emulated import EmulatedAccount


@pytest.fixture
def account(tmp_path: Path) -> Iterator[EmulatedAccount]:
    from moto.backends import get_backend

    server = EmulatorServer(0)
    server.start()
    try:
        yield EmulatedAccount(server, tmp_path)
    finally:
        server.stop()
        get_backend("rds").reset()


TIERS = ("unit", "functional", "e2e", "infra", "notebooks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the first folder under tests/, so ``-m`` selects tiers."""
    root = Path(__file__).parent
    for item in items:
        try:
            tier = item.path.relative_to(root).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            zombie = (entry / "stat").read_text().split()[2] == "Z"
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            continue
        if text in cmdline and not zombie:
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests leave nothing running: no process started under this run's temporary directories survives."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    left = _processes_mentioning(str(factory.getbasetemp()))
    if left:
        print("\nprocesses left running by the tests:\n  " + "\n  ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
