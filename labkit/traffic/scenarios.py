"""Audit scenarios beside sysbench: the events an auditor looks for, made on purpose.

Each scenario connects over TCP as a real client would, so the audit lines carry the client's host
and user: ad-hoc queries (one of them failing), schema changes, user management and failed logins.
Names are random per run and passwords come from ``secrets``, never from the code.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from labkit.config import LabConfig
from labkit.traffic.lab import DatabaseLogin, LabTarget
from labkit.traffic.spec import check_scenario
from labkit.traffic.summary import TrafficSummary

FAILED_LOGIN_ATTEMPTS = 5


class _Session:
    """One connection that counts the statements it sends."""

    def __init__(self, login: DatabaseLogin) -> None:
        self.conn = login.connect()
        self.statements = 0

    def run(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        self.statements += 1
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def close(self) -> None:
        self.conn.close()


def adhoc(login: DatabaseLogin) -> int:
    """What a person at a SQL prompt does: look around, read some rows, mistype a table name."""
    import pymysql

    session = _Session(login)
    try:
        session.run("SELECT VERSION(), CURRENT_USER(), NOW()")
        session.run("SHOW DATABASES")
        session.run("SHOW TABLES")
        session.run(
            "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema = %s",
            (login.database,),
        )
        tables = [row[0] for row in session.run("SHOW TABLES LIKE %s", ("sbtest%",))]
        for table in tables[:2]:
            session.run(f"SELECT COUNT(*) FROM `{table}`")
            session.run(f"SELECT id, k FROM `{table}` WHERE id BETWEEN %s AND %s", (1, 20))
        with contextlib.suppress(pymysql.MySQLError):
            session.run("SELECT * FROM labkit_no_such_table")  # logged with its error code
        session.run("SELECT @@hostname, @@server_id, @@read_only")
        return session.statements
    finally:
        session.close()


def ddl(login: DatabaseLogin) -> int:
    """CREATE, ALTER, RENAME and DROP TABLE on a scratch table with a per-run name."""
    name = f"labkit_ddl_{secrets.token_hex(4)}"
    session = _Session(login)
    try:
        session.run(f"CREATE TABLE `{name}` (id INT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(64))")
        session.run(f"INSERT INTO `{name}` (note) VALUES ('one'), ('two'), ('three')")
        session.run(f"ALTER TABLE `{name}` ADD COLUMN created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP")
        session.run(f"CREATE INDEX idx_note ON `{name}` (note)")
        session.run(f"RENAME TABLE `{name}` TO `{name}_old`")
        session.run(f"TRUNCATE TABLE `{name}_old`")
        session.run(f"DROP TABLE `{name}_old`")
        return session.statements
    finally:
        session.close()


def users(login: DatabaseLogin) -> int:
    """CREATE USER, GRANT, a login as that user, REVOKE, DROP USER - with a random password."""
    user = f"labkit_user_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    session = _Session(login)
    try:
        session.run("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
        try:
            session.run(f"GRANT SELECT ON `{login.database}`.* TO %s@'127.0.0.1'", (user,))
            as_user = DatabaseLogin(
                login.instance_id, login.role, login.host, login.port, user, login.database, password
            )
            visitor = _Session(as_user)
            try:
                visitor.run("SELECT CURRENT_USER()")
                visitor.run("SHOW TABLES")
            finally:
                visitor.close()
            session.statements += visitor.statements
            session.run(f"REVOKE SELECT ON `{login.database}`.* FROM %s@'127.0.0.1'", (user,))
        finally:
            session.run("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))
        return session.statements
    finally:
        session.close()


def failed_logins(login: DatabaseLogin, attempts: int = FAILED_LOGIN_ATTEMPTS) -> int:
    """Wrong passwords for the admin and for an unknown user: FAILED_CONNECT lines with error 1045."""
    import pymysql

    refused = 0
    for i in range(attempts):
        user = login.user if i % 2 == 0 else f"labkit_nobody_{secrets.token_hex(3)}"
        wrong = DatabaseLogin(
            login.instance_id,
            login.role,
            login.host,
            login.port,
            user,
            login.database,
            secrets.token_urlsafe(12),
        )
        try:
            wrong.connect().close()
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                refused += 1
                continue
            raise
    return refused


SCENARIO_FUNCTIONS: dict[str, Callable[[DatabaseLogin], int]] = {
    "adhoc": adhoc,
    "ddl": ddl,
    "users": users,
    "failed-logins": failed_logins,
}


def run_scenarios(name: str, config: LabConfig, target: str = "writer") -> list[TrafficSummary]:
    """Run one scenario (or ``all``) on ``target``; one summary per scenario."""
    names = check_scenario(name, target)  # refuses before any connection
    lab = LabTarget.resolve(config)
    login = lab.login(target)
    summaries = []
    for scenario in names:
        started = time.monotonic()
        with lab.meter() as meter:
            statements = SCENARIO_FUNCTIONS[scenario](login)
        summaries.append(
            TrafficSummary(
                action=f"scenario:{scenario}",
                target=login.role,
                instance_id=login.instance_id,
                duration_s=time.monotonic() - started,
                audit=meter.results(),
                statements=statements,
            )
        )
    return summaries
