"""Where traffic goes: an instance of the running local lab, its login, and a meter on its audit files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.config import LabConfig
from labkit.errors import TrafficError
from labkit.local.state import LabState, read_running_state
from labkit.traffic.audit import AuditMeter


@dataclass(frozen=True)
class DatabaseLogin:
    """The lab admin's TCP login to one instance. The password never goes on a command line."""

    instance_id: str
    role: str
    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)

    def connect(self, **kwargs: Any) -> Any:
        import pymysql

        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "autocommit": True,
            "connect_timeout": 10,
        }
        options.update(kwargs)
        return pymysql.connect(**options)


@dataclass(frozen=True)
class LabTarget:
    """The running lab, resolved once per action."""

    config: LabConfig
    state: LabState
    password: str = field(repr=False)

    @classmethod
    def resolve(cls, config: LabConfig) -> LabTarget:
        from labkit.local.service import master_password  # lazily: the service module pulls in boto3

        state = read_running_state(config)  # LabNotRunningError says to run `labkit local up`
        return cls(config, state, master_password(Path(config.state_dir)))

    def login(self, role: str) -> DatabaseLogin:
        inst = self.state.role(role)
        return DatabaseLogin(
            instance_id=inst.id,
            role=inst.role,
            host=inst.host,
            port=inst.port,
            user=self.config.master_username,
            database=self.config.database,
            password=self.password,
        )

    def meter(self) -> AuditMeter:
        """A meter on every instance's audit files, so traffic that lands elsewhere shows too."""
        return AuditMeter({inst.id: (inst.role, Path(inst.audit_dir)) for inst in self.state.instances})

    def wait_for_reader(self, timeout_s: float = 60.0) -> None:
        """Block until the reader has applied everything the writer has logged (e.g. freshly prepared tables)."""
        writer = self.login("writer").connect()
        try:
            with writer.cursor() as cur:
                cur.execute("SELECT @@gtid_binlog_pos")
                position = cur.fetchone()[0]
        finally:
            writer.close()
        if not position:
            return
        reader = self.login("reader").connect()
        try:
            with reader.cursor() as cur:
                cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout_s))
                waited = cur.fetchone()[0]
        finally:
            reader.close()
        if waited != 0:
            raise TrafficError(
                f"the reader has not caught up with the writer (GTID {position}) after {timeout_s:.0f}s: "
                "check replication with `SHOW SLAVE STATUS` on the reader, or restart the lab"
            )
