"""The Aurora stand-in: private MariaDB servers with the server_audit plugin, one writer and one reader.

Debian's mariadb-server binaries run as the lab's own processes (never the system service), each with its
own datadir, socket and loopback port. The reader replicates from the writer, so a read-only workload
finds the writer's tables. Audit settings mirror Aurora's cluster parameters (``server_audit_events``,
incl/excl users) plus MariaDB's rotate size and number of rotations.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.config import LabConfig
from labkit.errors import LabStartError, MissingBinaryError

PACKAGE = "mariadb-server"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin")


def find_binary(name: str, package: str = PACKAGE) -> str:
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in _SBIN if os.access(f"{d}/{name}", os.X_OK)), None
    )
    if not found:
        raise MissingBinaryError(name, package)
    return found


@dataclass(frozen=True)
class AuditSettings:
    """Aurora's Advanced Auditing parameters, plus the plugin's file rotation."""

    events: str = "CONNECT,QUERY,TABLE"
    incl_users: str = ""
    excl_users: str = ""
    rotate_size: int = 8 * 1024 * 1024
    rotations: int = 9
    query_log_limit: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, config: LabConfig) -> AuditSettings:
        return cls(
            events=config.audit_events,
            incl_users=config.audit_incl_users,
            excl_users=config.audit_excl_users,
            rotate_size=config.audit_rotate_size,
            rotations=config.audit_rotations,
            query_log_limit=config.audit_query_log_limit,
        )

    def server_options(self) -> list[str]:
        return [
            "--plugin-load-add=server_audit",
            "--server-audit=FORCE_PLUS_PERMANENT",
            "--server-audit-logging=ON",
            "--server-audit-output-type=file",
            f"--server-audit-events={self.events}",
            f"--server-audit-incl-users={self.incl_users}",
            f"--server-audit-excl-users={self.excl_users}",
            f"--server-audit-file-rotate-size={self.rotate_size}",
            f"--server-audit-file-rotations={self.rotations}",
            f"--server-audit-query-log-limit={self.query_log_limit}",
        ]

    def set_statements(self) -> list[str]:
        """The same settings applied to a running server (Aurora needs no restart either)."""
        return [
            f"SET GLOBAL server_audit_events = '{self.events}'",
            f"SET GLOBAL server_audit_incl_users = '{self.incl_users}'",
            f"SET GLOBAL server_audit_excl_users = '{self.excl_users}'",
            f"SET GLOBAL server_audit_file_rotate_size = {int(self.rotate_size)}",
            f"SET GLOBAL server_audit_file_rotations = {int(self.rotations)}",
            f"SET GLOBAL server_audit_query_log_limit = {int(self.query_log_limit)}",
        ]


class MariaDBServer:
    """One private mariadbd: created on first start, restarted in well under a second afterwards."""

    def __init__(self, instance_id: str, role: str, port: int, root: Path, server_id: int) -> None:
        self.instance_id = instance_id
        self.role = role
        self.port = port
        self.server_id = server_id
        self.dir = Path(root) / instance_id
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def audit_dir(self) -> Path:
        return self.dir / "audit"

    @property
    def socket(self) -> Path:
        return self.dir / "mariadbd.sock"

    @property
    def error_log(self) -> Path:
        return self.dir / "mariadbd.err"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def initialise(self) -> bool:
        """Create the datadir once; returns True when it was new."""
        if (self.datadir / "mysql").is_dir():
            return False
        install_db = find_binary("mariadb-install-db")
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.audit_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                install_db,
                "--no-defaults",
                *self._user_option(),
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise LabStartError(f"mariadb-install-db failed for {self.instance_id}:\n{result.stderr[-2000:]}")
        return True

    def start(self, audit: AuditSettings, timeout_s: float) -> None:
        mariadbd = find_binary("mariadbd")
        self.audit_dir.mkdir(parents=True, exist_ok=True)
        replication = (
            ["--log-bin=binlog", "--binlog-format=ROW"] if self.role == "writer" else ["--read-only=ON"]
        )
        args = [
            mariadbd,
            "--no-defaults",
            *self._user_option(),
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.dir / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--server-id={self.server_id}",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=300",
            "--max-allowed-packet=64M",
            *replication,
            *audit.server_options(),
            f"--server-audit-file-path={self.audit_dir / 'server_audit.log'}",
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def connect(self, **kwargs: Any) -> Any:
        """A root connection over the private socket."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True, **kwargs)

    def execute(self, *statements: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall())
        finally:
            conn.close()
        return rows

    def _user_option(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabStartError(
                    f"mariadbd for {self.instance_id} exited with {self.process.returncode} "
                    f"(port {self.port}):\n{_tail(self.error_log)}"
                )
            try:
                self.execute("SELECT 1")
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise LabStartError(
            f"mariadbd for {self.instance_id} not ready after {timeout_s:.0f}s:\n{_tail(self.error_log)}"
        )


class LocalCluster:
    """The writer and the reader, with the lab's admin user and replication set up once."""

    def __init__(self, config: LabConfig, writer_port: int, reader_port: int, password: str) -> None:
        root = Path(config.state_dir) / "instances"
        self.config = config
        self.password = password
        self.writer = MariaDBServer(config.writer_id, "writer", writer_port, root, server_id=1)
        self.reader = MariaDBServer(config.reader_id, "reader", reader_port, root, server_id=2)

    @property
    def servers(self) -> tuple[MariaDBServer, MariaDBServer]:
        return (self.writer, self.reader)

    def start(self) -> None:
        audit = AuditSettings.from_config(self.config)
        new = [server.initialise() for server in self.servers]
        try:
            for server in self.servers:
                server.start(audit, self.config.start_timeout_s)
                if new[self.servers.index(server)]:
                    server.execute(*_ROOT_TCP_LOCKDOWN)
            if new[0]:
                self.writer.execute(*self._writer_setup())
            self.reader.execute(*self._reader_setup())  # every start: the writer's port may have changed
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def _writer_setup(self) -> list[str]:
        user, db, pw = self.config.master_username, self.config.database, _sql_str(self.password)
        return [
            f"CREATE DATABASE IF NOT EXISTS {db}",
            f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY {pw}",
            f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY {pw}",
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'127.0.0.1' WITH GRANT OPTION",
            f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'localhost' WITH GRANT OPTION",
            # like Aurora's master user, it cannot write on the reader (read_only binds it)
            f"REVOKE READ_ONLY ADMIN ON *.* FROM '{user}'@'127.0.0.1', '{user}'@'localhost'",
            f"CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY {pw}",
            "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
        ]

    def _reader_setup(self) -> list[str]:
        return [
            "STOP SLAVE",
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.writer.port}, MASTER_USER='repl', "
            f"MASTER_PASSWORD={_sql_str(self.password)}, MASTER_USE_GTID=slave_pos",
            "START SLAVE",
        ]


# mariadb-install-db's "normal" root also exists for TCP; keep root on the private socket only.
_ROOT_TCP_LOCKDOWN = [
    "SET SESSION sql_log_bin = 0",  # each server does this itself; replicating it would break the reader
    "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost'",
    "DELETE FROM mysql.global_priv WHERE User = ''",
    "FLUSH PRIVILEGES",
]


def _sql_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no error log)"
