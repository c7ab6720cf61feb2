"""The AWS backend: Amazon Athena in the lab's workgroup, over the stack's Glue table.

``start_query_execution`` in the lab's workgroup (which enforces its encrypted results location and
bytes-scanned cutoff), wait for a final state, then ``get_query_results`` page by page, typed back into the
DataFrame DuckDB's answer would be (:func:`_typed`). Athena needs every query to name its instance partitions,
so a saved query without an instance covers the instances the engine was given (the lab's writer and reader).
The partition predicates of an ad-hoc statement are its own: Athena prunes by them.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from labkit.query.engine import Engine
from labkit.query.errors import QueryError


class AthenaEngine(Engine):
    """Athena in one workgroup and Glue database; ``instances``: what a saved query without one covers."""

    dialect = "athena"

    def __init__(
        self,
        athena: Any,
        workgroup: str,
        database: str,
        *,
        instances: tuple[str, ...] = (),
        timeout_s: float = 600.0,
    ) -> None:
        self.athena, self.workgroup, self.database, self.timeout_s = athena, workgroup, database, timeout_s
        self.instances = instances  # what a saved query without an instance covers

    def _scope(self, params: dict[str, Any]) -> dict[str, Any]:
        """Athena's instance partition is injected: a query must name its instances, so a saved query
        without one covers the lab's (the writer and the reader)."""
        if not params.get("instance"):
            if not self.instances:
                raise QueryError(
                    "name the instance (--instance): Athena reads only the instances a query names"
                )
            params["instance"] = self.instances
        return params

    def sql(
        self,
        sql: str,
        *,
        instance: str | None = None,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> pd.DataFrame:
        try:
            execution = self.athena.start_query_execution(
                QueryString=sql,
                WorkGroup=self.workgroup,
                QueryExecutionContext={"Database": self.database},
            )["QueryExecutionId"]
            self._wait(execution)
            return self._results(execution)
        except ClientError as exc:
            raise QueryError(
                f"Athena refused the query in workgroup {self.workgroup} ({exc.response['Error']['Code']}: "
                f"{exc.response['Error'].get('Message', '')}): deploy the lab stack, or check the SQL"
            ) from exc

    def _wait(self, execution: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        pause = 0.2
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "CANCELLED"):
                raise QueryError(
                    f"Athena query {execution} {state}: {status.get('StateChangeReason', 'no reason given')}"
                )
            if time.monotonic() > deadline:
                raise QueryError(
                    f"Athena query {execution} still {state} after {self.timeout_s:.0f} s: "
                    "see it in the Athena console, or narrow the dates"
                )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)

    def _results(self, execution: str) -> pd.DataFrame:
        columns: list[str] = []
        types: list[str] = []
        rows: list[list[str | None]] = []
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution)
        for page in pages:
            result = page["ResultSet"]
            if not columns:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns, types = [c["Name"] for c in info], [c.get("Type", "varchar").lower() for c in info]
            for row in result.get("Rows", []):
                rows.append([cell.get("VarCharValue") for cell in row.get("Data", [])])
        if rows and columns and rows[0] == columns:
            rows = rows[1:]  # a SELECT's first row is the header
        if not columns and rows:
            columns = [f"_col{i}" for i in range(len(rows[0]))]
        frame = pd.DataFrame(rows, columns=columns)
        for column, athena_type in zip(columns, types, strict=False):
            frame[column] = _typed(frame[column], athena_type)
        return frame


def _typed(values: pd.Series, athena_type: str) -> pd.Series:
    """Athena answers text; the DataFrame gets the column's type, as DuckDB's answer has it."""
    if athena_type in ("bigint", "integer", "int", "smallint", "tinyint"):
        return pd.to_numeric(values).astype("Int64")
    if athena_type in ("double", "float", "real") or athena_type.startswith("decimal"):
        return pd.to_numeric(values)
    if athena_type == "boolean":
        return values.map({"true": True, "false": False})
    if athena_type.startswith(("timestamp", "date")):
        return pd.to_datetime(values)
    return values
