"""Real MariaDB with server_audit behind the emulator: an instance rotating 4 kB x 2 files is flagged at risk,
one keeping 1 MB x 9 is not, under the same traffic.

Machine speed cannot flip either verdict: every statement holds the server in SLEEP(0.02), so the audit
rate is at most one ~150-byte line per 20 ms (well under 10 kB/s) however fast the machine is, which
keeps the 1 MB x 9 history above 900 s (15 one-minute scans); and a machine would have to be hundreds of
times slower than this one for 4 kB x 2 to keep three minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.backup.detector import detect
from labkit.backup.scanner import InstanceMessage
from labkit.backup.sizing import AT_RISK, OK, HistoryPolicy
from labkit.local.databases import AuditSettings, MariaDBServer
from labkit.local.ports import free_port
from tests.support.emulated import EmulatedAccount
from tests.support.pipeline import Pipeline

SCAN_PERIOD_S = 60.0


@pytest.fixture
def servers(account: EmulatedAccount) -> Iterator[dict[str, tuple[MariaDBServer, AuditSettings]]]:
    started: dict[str, tuple[MariaDBServer, AuditSettings]] = {}
    try:
        for n, (instance, size, rotations) in enumerate((("db-fast", 4096, 2), ("db-slow", 1_000_000, 9))):
            account.add_instance(instance, scheme="rds-mysql", engine="mysql")  # <tmp>/<instance>/audit
            server = MariaDBServer(instance, "writer", free_port(), Path(account.tmp), server_id=n + 1)
            server.initialise()
            audit = AuditSettings(events="QUERY", rotate_size=size, rotations=rotations)
            server.start(audit, timeout_s=60.0)
            started[instance] = (server, audit)
        yield started
    finally:
        for server, _ in started.values():
            server.stop()


def test_a_fast_rotating_mariadb_is_at_risk_and_a_slow_one_is_not(
    account: EmulatedAccount, servers: dict[str, tuple[MariaDBServer, AuditSettings]]
) -> None:
    pipeline = Pipeline(account)
    # GIVEN the same paced statements on both, and one forced rotation midway on each (so the slow one,
    # which never reaches its rotate size, has a rotated file to measure its rate by)
    padding = "x" * 80
    for server, _ in servers.values():
        conn = server.connect()
        try:
            with conn.cursor() as cur:
                for i in range(150):
                    cur.execute(f"SELECT SLEEP(0.02), {i}, '{padding}'")
                    if i == 75:
                        cur.execute("SET GLOBAL server_audit_file_rotate_now = ON")
        finally:
            conn.close()
    # WHEN the detector scans each with the local lab's policy for its setting
    verdicts = {}
    for instance, (_, audit) in servers.items():
        policy = HistoryPolicy(
            scan_period_s=SCAN_PERIOD_S,
            aurora_retention_s=None,
            rotate_size=audit.rotate_size,
            rotations=audit.rotations,
        )
        outcome = detect(
            account.rds,
            pipeline.table,
            InstanceMessage(instance, "", "mysql", "rds-mysql"),
            seal_after_s=0.0,
            ttl_days=30,
            credentials=account.session.get_credentials(),
            history=policy,
        )
        assert outcome.history is not None, instance
        verdicts[instance] = outcome.history
    # THEN the fast one rotated by size and is at risk with advice; the slow one is ok
    fast, slow = verdicts["db-fast"], verdicts["db-slow"]
    assert fast.verdict == AT_RISK and fast.suggested_rotate_size is not None, fast
    assert slow.verdict == OK, slow
    assert slow.rate_bps is not None and slow.rate_bps < 10_000  # the pacing held
