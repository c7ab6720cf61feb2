"""Bad set-ups get errors that say what to do."""

from __future__ import annotations

import logging
import socket

import pytest

from labkit.errors import MissingBinaryError
from labkit.local import databases
from labkit.local.ports import choose_port


def test_a_missing_mariadbd_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(databases, "_SBIN", ("/nonexistent",))
    with pytest.raises(
        MissingBinaryError, match=r"mariadbd not found: install it with `apt-get install -y mariadb-server`"
    ):
        databases.find_binary("mariadbd")


def test_a_taken_port_is_reported_and_another_chosen(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING):
            chosen = choose_port(port, "the AWS emulator")
    assert chosen != port and chosen > 0
    assert f"port {port} for the AWS emulator is taken" in caplog.text


def test_a_free_port_is_used_as_asked() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert choose_port(port, "x") == port
