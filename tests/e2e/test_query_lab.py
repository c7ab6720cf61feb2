"""Every saved query on the real lab's backup: lines MariaDB's server_audit wrote (scenarios, plus statements
with commas, quotes, backslashes, a newline, latin-1 bytes that are no UTF-8 and one over 1 MB), copied by
the lab's pipeline into the emulator's S3, read back by DuckDB, and compared with the independent reading
of the decompressed parts (tests/support/query_oracle.py). Nothing is faked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labkit import aws, traffic
from labkit.config import LabConfig
from labkit.local.state import LabState
from labkit.ops.lab import catch_up, seal_active_files
from labkit.query import connect
from labkit.traffic.lab import LabTarget
from tests.support.query_oracle import compare_saved_queries

pytestmark = pytest.mark.e2e

BIG = "INSERT INTO query_probe VALUES (2, '" + "a,b\\'c \\\\ d " * 100_000 + "')"


def test_every_saved_query_on_the_lab_backup_matches_the_parts(lab: LabState, lab_config: LabConfig) -> None:
    # GIVEN audit lines the real server wrote
    traffic.run_scenarios("all", lab_config)
    login = LabTarget.resolve(lab_config).login("writer")
    connection = login.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS query_probe (id INT PRIMARY KEY, note LONGTEXT)")
            cursor.execute("REPLACE INTO query_probe VALUES (1, 'O\\'Brien, Pat \\\\ back, \"quoted\"')")
            cursor.execute("SELECT id,\n  note FROM query_probe WHERE note LIKE '%,%'")
            cursor.execute(BIG.replace("INSERT", "REPLACE"))
    finally:
        connection.close()
    latin1 = login.connect(charset="latin1")  # the statement's bytes as latin-1: 0xE9 is no UTF-8
    try:
        with latin1.cursor() as cursor:
            cursor.execute("SELECT 'caf\u00e9' AS query_probe")
    finally:
        latin1.close()
    seal_active_files(lab_config)
    # WHEN the pipeline has copied everything, and every saved query runs through DuckDB
    catch_up(lab_config, lab.endpoint, timeout_s=240)
    today = datetime.now(UTC).date()
    answers = compare_saved_queries(
        connect(lab_config),
        aws.client("s3", lab_config),
        lab_config.names.bucket,
        lab_config.log_prefix,
        lab_config.writer_id,
        today,
        user=lab_config.master_username,
        client_host="127.0.0.1",
        table="query_probe",
    )
    # THEN (compare_saved_queries asserted each query's rows) the hard statements came back whole
    probe = set(answers["statements_touching_table"].object)
    assert "REPLACE INTO query_probe VALUES (1, 'O\\'Brien, Pat \\\\ back, \"quoted\"')" in probe
    assert "SELECT id,\n  note FROM query_probe WHERE note LIKE '%,%'" in probe
    assert BIG.replace("INSERT", "REPLACE") in probe  # over 1 MB
    assert "SELECT 'caf\ufffd' AS query_probe" in probe
    assert len(answers["failed_logins"]) >= traffic.scenarios.FAILED_LOGIN_ATTEMPTS
    assert not answers["ddl_dcl_by_user"].empty
