"""Loopback ports: use the one asked for, or say it is taken and pick a free one."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


def is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def choose_port(wanted: int, what: str, avoid: set[int] | None = None) -> int:
    """``wanted`` if free (0 means any); otherwise a free port, and a warning naming both."""
    avoid = avoid or set()
    if wanted and wanted not in avoid and is_free(wanted):
        return wanted
    port = free_port()
    while port in avoid:
        port = free_port()
    if wanted:
        log.warning("port %d for %s is taken on %s; using %d instead", wanted, what, LOOPBACK, port)
    return port
