"""The emulator counts every RDS request it serves, by action: what the RPO bench reports against the
account's shared RDS rate limit. Real botocore clients over HTTP; nothing faked."""

from __future__ import annotations

import json
import urllib.request

from labkit.backup.rdslogs import download_complete_log_file, iter_portions, list_log_files
from tests.support.emulated import EmulatedAccount, audit_line


def rds_calls(account: EmulatedAccount) -> dict[str, int]:
    with urllib.request.urlopen(f"{account.url}/labkit-api/rds-calls", timeout=10) as response:
        answer = json.load(response)
    assert answer["total"] == sum(answer["by_action"].values())
    assert answer["total"] == sum(answer["by_instance"].values())
    return dict(answer["by_action"])


def test_every_rds_request_is_counted_by_action(account: EmulatedAccount) -> None:
    # GIVEN an instance with one audit file (creating it is two RDS calls: cluster and instance)
    directory = account.add_instance("db-1")
    (directory / "server_audit.log").write_bytes(b"".join(audit_line(i) for i in range(100)))
    before = rds_calls(account)
    # WHEN a client lists its files twice, pages one, downloads it whole and describes the instance
    files = list_log_files(account.rds, "db-1")
    list_log_files(account.rds, "db-1")
    pages = list(iter_portions(account.rds, "db-1", files[0]["LogFileName"]))
    data = b"".join(
        download_complete_log_file(
            account.rds, account.session.get_credentials(), "db-1", files[0]["LogFileName"]
        )
    )
    account.rds.describe_db_instances(DBInstanceIdentifier="db-1")
    after = rds_calls(account)
    # THEN each request is counted once under its action, and nothing else was
    grown = {action: after[action] - before.get(action, 0) for action in after}
    assert {a: n for a, n in grown.items() if n} == {
        "DescribeDBLogFiles": 2,
        "DownloadDBLogFilePortion": len(pages),
        "DownloadCompleteDBLogFile": 1,
        "DescribeDBInstances": 1,
    }
    assert data == (directory / "server_audit.log").read_bytes()
    assert before == {"CreateDBCluster": 1, "CreateDBInstance": 1}
    # ... and by instance: the cluster's creation names none, every later call names db-1
    with urllib.request.urlopen(f"{account.url}/labkit-api/rds-calls", timeout=10) as response:
        by_instance = json.load(response)["by_instance"]
    assert by_instance == {"": 1, "db-1": 1 + sum(grown.values())}
