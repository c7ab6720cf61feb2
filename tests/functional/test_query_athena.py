"""The Athena engine's API flow against the emulator over HTTP: start the query in the workgroup with the
database as context, wait for a final state, page through the results, type the columns.

What is faked, and why: moto does not run SQL; its Athena answers a query with results queued beforehand
through its /moto-api/static/athena/query-results endpoint (canned rows). So this proves the calls, the
paging and the typing, not the SQL: the SQL itself is proven on DuckDB (test_query_archive), from the same
saved queries, and its Athena rendering is checked for the parts that differ (test_query_render).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from labkit.query import AthenaEngine
from labkit.query.errors import QueryError
from labkit.query.queries import QUERIES
from tests.support.emulated import EmulatedAccount


def queue_results(url: str, rows: list[list[str]], columns: list[tuple[str, str]]) -> None:
    body = {
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": [
                    {"Name": n, "Label": n, "Type": t, "CatalogName": "hive", "SchemaName": "", "TableName": "",
                     "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False}
                    for n, t in columns
                ],
            }
        ]
    }  # fmt: skip
    request = urllib.request.Request(
        f"{url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201


def test_a_saved_query_runs_in_the_workgroup_and_comes_back_typed(account: EmulatedAccount) -> None:
    athena = account.client("athena")
    athena.create_work_group(Name="lab-audit", Configuration={"EnforceWorkGroupConfiguration": True})
    columns = [("username", "varchar"), ("events", "bigint"), ("sessions", "bigint")]
    header = [name for name, _ in columns]
    queue_results(account.url, [header, ["app", "41", "3"], ["root", "2", "1"]], columns)
    engine = AthenaEngine(athena, "lab-audit", "lab_audit")
    # WHEN a saved query runs on the Athena engine
    frame = engine.run("top_users", instance="lab-writer", since="2026-12-01", until="2026-12-03")
    # THEN it was started in the workgroup, on the database, with the Athena rendering of the query
    execution = athena.list_query_executions(WorkGroup="lab-audit")["QueryExecutionIds"]
    assert len(execution) == 1
    sent = athena.get_query_execution(QueryExecutionId=execution[0])["QueryExecution"]
    assert sent["Query"] == QUERIES["top_users"].render(
        "athena", instance="lab-writer", since="2026-12-01", until="2026-12-03"
    )
    assert sent["QueryExecutionContext"]["Database"] == "lab_audit"
    # AND the rows come back without the header row, numbers as numbers
    assert frame.to_dict("records") == [
        {"username": "app", "events": 41, "sessions": 3},
        {"username": "root", "events": 2, "sessions": 1},
    ]
    assert str(frame["events"].dtype) == "Int64"


def test_without_an_instance_athena_covers_the_labs_instances_by_name(account: EmulatedAccount) -> None:
    # Athena's instance partition is injected (no listing): a query must name its instances
    athena = account.client("athena")
    athena.create_work_group(Name="lab-audit", Configuration={"EnforceWorkGroupConfiguration": True})
    engine = AthenaEngine(athena, "lab-audit", "lab_audit", instances=("lab-writer", "lab-reader"))
    engine.run("failed_logins", since="2026-12-01", until="2026-12-01")
    (execution,) = athena.list_query_executions(WorkGroup="lab-audit")["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Query"]
    assert "\"instance\" IN ('lab-writer', 'lab-reader')" in sent
    with pytest.raises(QueryError, match="--instance"):
        AthenaEngine(athena, "lab-audit", "lab_audit").run("failed_logins")
