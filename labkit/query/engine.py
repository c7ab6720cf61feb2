"""Run the archive's SQL: DuckDB over the emulator's bucket (local) or Amazon Athena (aws).

Local: the lines of the partitions a query needs are read through boto3 (see :mod:`labkit.query.archive`
for why not httpfs) once per engine and parsed as they are loaded, with
:data:`labkit.query.schema.LINE_PATTERN` and ``regexp_extract``, into the DuckDB table ``audit_events``:
the same columns Athena's RegexSerDe table has, plus ``source_key`` (Athena's ``"$path"``) and the
derived columns the saved queries read (``event_time``, ``object_sql``, ``category``, ``parse_ok``:
:func:`labkit.query.dialects.derive`), computed here once instead of in every query. An ad-hoc query
that uses those four runs locally only; on Athena the saved queries compute them. ``Engine.sql`` on an arbitrary statement loads every partition first.

AWS: ``start_query_execution`` in the lab's workgroup (which enforces its encrypted results location and
bytes-scanned cutoff), wait for a final state, then ``get_query_results`` page by page.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from datetime import date, timedelta
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from labkit import aws
from labkit.config import LabConfig
from labkit.query.archive import Partition, PartText, list_partitions, read_texts
from labkit.query.dialects import DERIVED_COLUMNS, derive
from labkit.query.errors import QueryError
from labkit.query.queries import PARTITION_SLACK_DAYS, as_date, saved_query
from labkit.query.schema import COLUMNS, LINE_PATTERN, PARTITION_COLUMNS, TABLE_NAME, athena_names

BATCH_CHARS = 64 * 1024 * 1024  # text parsed per INSERT: big enough for every thread, small for memory


class Engine:
    """One query engine over the backup archive; ``dialect`` is "duckdb" or "athena"."""

    dialect = "duckdb"

    def sql(
        self,
        sql: str,
        *,
        instance: str | None = None,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> pd.DataFrame:
        """Any SQL over ``audit_events``. The scope (instance, dates) bounds what the local engine reads
        first (default: everything); on Athena the statement's own WHERE prunes, and the scope is unused."""
        raise NotImplementedError

    def run(self, name: str, **params: Any) -> pd.DataFrame:
        """A saved query (labkit.query.queries.QUERIES) with its parameters."""
        query = saved_query(name)
        params = self._scope(dict(params))
        rendered = query.render(self.dialect, **params)
        self._prepare({**query.defaults, **params})
        return self._execute(rendered)

    def _scope(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters with what this engine must have filled in (Athena: the instances)."""
        return params

    def _prepare(self, params: dict[str, Any]) -> None:
        """Make the partitions ``params`` select queryable (local: load them)."""

    def _execute(self, sql: str) -> pd.DataFrame:
        return self.sql(sql)


class DuckDBEngine(Engine):
    dialect = "duckdb"

    def __init__(self, s3: Any, bucket: str, prefix: str, *, memory_mb: int = 1024) -> None:
        import duckdb

        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        # the loaded archive lives in a compressed in-memory database (about 2.3x smaller than DuckDB's
        # default uncompressed one, measured on audit lines) capped at memory_mb; past that DuckDB moves
        # blocks to a temporary directory of this engine's own, removed with the engine
        self.spill_dir = tempfile.mkdtemp(prefix="labkit-duckdb-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.spill_dir, ignore_errors=True)
        self.connection = duckdb.connect(
            config={"memory_limit": f"{memory_mb}MB", "temp_directory": self.spill_dir}
        )
        self.connection.execute("ATTACH ':memory:' AS archive (COMPRESS)")
        self.connection.execute("USE archive")
        self._loaded: set[Partition] = set()
        self._everything = False
        columns = ", ".join(f"{c.name} {c.duckdb_type}" for c in COLUMNS)
        partitions = ", ".join(f'"{name}" VARCHAR' for name in PARTITION_COLUMNS)
        derived = ", ".join(f"{name} {kind}" for name, kind in DERIVED_COLUMNS.items())
        self.connection.execute(
            f"CREATE TABLE {TABLE_NAME} ({columns}, source_key VARCHAR, {partitions}, {derived})"
        )
        names = ", ".join(f"'{c.name}'" for c in COLUMNS)
        fields = ", ".join(
            f"r.{c.name} AS {c.name}"
            if c.duckdb_type == "VARCHAR"
            else f"TRY_CAST(r.{c.name} AS {c.duckdb_type}) AS {c.name}"
            for c in COLUMNS
        )
        pattern = "'^" + LINE_PATTERN.replace("'", "''") + "$'"
        partition_names = ", ".join(f'"{name}"' for name in PARTITION_COLUMNS)
        # a batch of parts' texts is split into lines in DuckDB, then parsed as one parallel INSERT: the
        # table then holds what Athena's RegexSerDe yields, and the derived columns the saved queries read
        self._stage = (
            "CREATE OR REPLACE TEMP TABLE staged_lines AS SELECT unnest(string_split(text, chr(10))) AS line,"
            f" source_key, {partition_names} FROM part_texts"
        )
        raw = (
            f"SELECT {fields}, source_key, {partition_names} FROM"
            f" (SELECT regexp_extract(line, {pattern}, [{names}]) AS r, source_key, {partition_names}"
            " FROM staged_lines)"
        )
        self._insert = f"INSERT INTO {TABLE_NAME} {derive('duckdb', raw)}"

    def sql(
        self,
        sql: str,
        *,
        instance: str | None = None,
        since: date | str | None = None,
        until: date | str | None = None,
    ) -> pd.DataFrame:
        if instance or since or until:
            first = as_date(since, date(1970, 1, 1)) - timedelta(days=PARTITION_SLACK_DAYS)
            self.load(instance or None, first, as_date(until, date(9999, 12, 31)))
        elif not self._everything:
            self.load()
            self._everything = True
        return self._execute(sql)

    def close(self) -> None:
        """Free the loaded archive and remove the spill directory (also done when the engine is collected)."""
        self.connection.close()
        self._cleanup()

    def sql_loaded(self, sql: str) -> pd.DataFrame:
        """``sql`` over the partitions loaded so far, reading nothing more."""
        return self._execute(sql)

    def _execute(self, sql: str) -> pd.DataFrame:
        import duckdb

        try:
            return self.connection.execute(sql).df()
        except duckdb.Error as exc:
            raise QueryError(f"DuckDB could not run the query: {exc}") from exc

    def _prepare(self, params: dict[str, Any]) -> None:
        until = as_date(params.get("until"), date.today())
        since = as_date(params.get("since"), until - timedelta(days=7))
        instance = params.get("instance") or None
        for one in [instance] if instance is None or isinstance(instance, str) else instance:
            self.load(one, since - timedelta(days=PARTITION_SLACK_DAYS), until)

    def load(self, instance: str | None = None, first: date | None = None, last: date | None = None) -> int:
        """Read the partitions not loaded yet (only those of ``instance`` and the dates); lines added."""
        partitions = [
            p
            for p in list_partitions(
                self.s3, self.bucket, self.prefix, instance=instance, first_date=first, last_date=last
            )
            if p not in self._loaded
        ]
        added, batch, size = 0, [], 0
        for text in read_texts(self.s3, self.bucket, partitions):
            batch.append(text)
            size += len(text.text)
            if size >= BATCH_CHARS:
                added, batch, size = added + self.add_texts(batch), [], 0
        added += self.add_texts(batch)
        self._loaded.update(partitions)
        return added

    def add_texts(self, texts: list[PartText]) -> int:
        """Parts' lines, parsed into ``audit_events`` in one statement (how ``load`` fills it)."""
        if not texts:
            return 0
        columns: dict[str, list[str]] = {"text": [t.text for t in texts]}
        columns["source_key"] = [t.source_key for t in texts]
        for name, field in zip(PARTITION_COLUMNS, ("cluster", "instance", "date"), strict=True):
            columns[name] = [getattr(t.partition, field) for t in texts]
        self.connection.register("part_texts", pd.DataFrame(columns))
        try:
            self.connection.execute(self._stage)
            added = int(self.connection.execute("SELECT count(*) FROM staged_lines").fetchone()[0])  # type: ignore[index]
            self.connection.execute(self._insert)
        finally:
            self.connection.unregister("part_texts")
            self.connection.execute("DROP TABLE IF EXISTS staged_lines")
        return added

    def add_lines(self, lines: list[str], source_keys: list[str], partition: Partition) -> int:
        """Lines of one partition (tests and benches): each its own text, so each keeps its source key."""
        return self.add_texts(
            [PartText(partition, key, line) for line, key in zip(lines, source_keys, strict=True)]
        )


class AthenaEngine(Engine):
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


def connect(config: LabConfig) -> Engine:
    """DuckDB over the emulator's bucket on the local target; Athena in the lab's workgroup on aws."""
    if config.target == "aws":
        names = athena_names(config)
        return AthenaEngine(
            aws.client("athena", config),
            names.workgroup,
            names.database,
            instances=(config.writer_id, config.reader_id),
        )
    return DuckDBEngine(
        aws.client("s3", config), config.names.bucket, config.log_prefix, memory_mb=config.query_memory_mb
    )
